"""Subscriptions: each one's event count and last delivery (adapter/store/subscription_state.py).

Revision ID: 0005_fhirb
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_fhirb"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "subscription_state",
        sa.Column("sub_id", sa.String(64), primary_key=True),
        sa.Column("events", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("last_sent", sa.BigInteger),
    )


def downgrade() -> None:
    op.drop_table("subscription_state")
