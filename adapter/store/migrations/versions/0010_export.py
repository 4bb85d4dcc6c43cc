"""Bulk Data export jobs ($export): the kick-off's parameters, who asked, the status and the files.

Revision ID: 0010_export
Revises: 0009_path
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_export"
down_revision = "0009_path"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "export_job",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("client_id", sa.String(255), nullable=False),
        sa.Column("organization", sa.String(255)),
        sa.Column("role", sa.String(64), nullable=False),
        sa.Column("request", sa.Text, nullable=False),
        sa.Column("params", sa.Text, nullable=False),
        sa.Column("transaction_time", sa.String(32), nullable=False),
        sa.Column("updated", sa.String(32), nullable=False),
        sa.Column("progress", sa.String(255)),
        sa.Column("output", sa.Text),
        sa.Column("error", sa.Text),
    )
    op.create_index("ix_export_status", "export_job", ["status"])


def downgrade() -> None:
    op.drop_index("ix_export_status", "export_job")
    op.drop_table("export_job")
