"""Access rows, the audit log (hash chain) and used client assertions.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "resource_access",
        sa.Column("res_type", sa.String(64), primary_key=True),
        sa.Column("res_id", sa.String(64), primary_key=True),
        sa.Column("organization", sa.String(255), primary_key=True),
    )
    op.create_index("ix_access_org", "resource_access", ["organization", "res_type"])
    op.create_table(
        "audit_event",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("event_id", sa.String(64), nullable=False, unique=True),
        sa.Column("recorded", sa.String(32), nullable=False),
        sa.Column("patient", sa.String(128)),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_index("ix_audit_patient", "audit_event", ["patient"])
    op.create_index("ix_audit_recorded", "audit_event", ["recorded"])
    op.create_table(
        "audit_patient",
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("patient", sa.String(128), primary_key=True),
    )
    op.create_index("ix_audit_patient_ref", "audit_patient", ["patient"])
    op.create_table(
        "used_assertion",
        sa.Column("jti", sa.String(255), primary_key=True),
        sa.Column("expires", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    for name in ("used_assertion", "audit_patient", "audit_event", "resource_access"):
        op.drop_table(name)
