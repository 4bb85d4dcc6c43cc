"""The plans' visits as rows (`plan_visit`, adapter.store.plan_visits): one per dated CarePlan activity,
for the monitoring's dosage; the CarePlans already stored are read once to fill it.

Revision ID: 0011_visits
Revises: 0010_export
"""

import json

import sqlalchemy as sa
from alembic import op

from adapter.store.plan_visits import PLAN_TYPE, plan_visit_rows
from adapter.store.schema import plan_visit, resource

revision = "0011_visits"
down_revision = "0010_export"
branch_labels = None
depends_on = None

_BATCH = 200


def upgrade() -> None:
    op.create_table(
        "plan_visit",
        sa.Column("res_id", sa.String(64), nullable=False),
        sa.Column("referral", sa.String(255)),
        sa.Column("canonical", sa.String(255)),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("status", sa.String(32)),
        sa.Column("kind", sa.String(64)),
    )
    op.create_index("ix_plan_visit_referral", "plan_visit", ["referral", "day"])
    op.create_index("ix_plan_visit_plan", "plan_visit", ["res_id"])
    conn = op.get_bind()
    r = resource.c
    live = (r.res_type == PLAN_TYPE, r.deleted.is_(False))
    ids = list(conn.execute(sa.select(r.res_id).where(*live).order_by(r.res_id)).scalars())
    for i in range(0, len(ids), _BATCH):  # a batch of plans at a time: a region's plans are 300 MB of JSON
        plans = conn.execute(sa.select(r.res_id, r.content).where(*live, r.res_id.in_(ids[i : i + _BATCH])))
        rows = [
            row for res_id, content in plans.all() for row in plan_visit_rows(res_id, json.loads(content))
        ]
        if rows:
            conn.execute(sa.insert(plan_visit), rows)


def downgrade() -> None:
    op.drop_index("ix_plan_visit_plan", "plan_visit")
    op.drop_index("ix_plan_visit_referral", "plan_visit")
    op.drop_table("plan_visit")
