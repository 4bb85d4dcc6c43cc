"""Transactional outbox and the peers' resource versions.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbox_message",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("flow", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("peer", sa.String(64), nullable=False),
        sa.Column("client", sa.String(128), nullable=False),
        sa.Column("created", sa.String(32), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt", sa.BigInteger, nullable=False),
        sa.Column("locked_by", sa.String(64)),
        sa.Column("locked_until", sa.BigInteger),
        sa.Column("last_error", sa.Text),
        sa.Column("delivered", sa.String(32)),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_outbox_key", "outbox_message", ["peer", "client", "status", "id"])
    op.create_index("ix_outbox_due", "outbox_message", ["status", "next_attempt"])
    op.create_table(
        "peer_resource",
        sa.Column("peer", sa.String(64), primary_key=True),
        sa.Column("res_type", sa.String(64), primary_key=True),
        sa.Column("res_id", sa.String(64), primary_key=True),
        sa.Column("peer_id", sa.String(64), nullable=False),
        sa.Column("version_id", sa.String(64)),
        sa.Column("updated", sa.String(32), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("peer_resource")
    op.drop_index("ix_outbox_due", "outbox_message")
    op.drop_index("ix_outbox_key", "outbox_message")
    op.drop_table("outbox_message")
