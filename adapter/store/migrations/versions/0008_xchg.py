"""Exchange: the outbox lease's generation (fencing token) and a circuit breaker per peer.

Revision ID: 0005_xchg
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_xchg"
down_revision = "0005_relcore"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("outbox_message", sa.Column("generation", sa.Integer, nullable=False, server_default="0"))
    op.create_table(
        "peer_circuit",
        sa.Column("peer", sa.String(64), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("failures", sa.Integer, nullable=False, server_default="0"),
        sa.Column("retry_at", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("probe_by", sa.String(64)),
        sa.Column("last_error", sa.Text),
        sa.Column("changed", sa.String(32), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("peer_circuit")
    with op.batch_alter_table("outbox_message") as batch:
        batch.drop_column("generation")
