"""Resources, their versions, the search index and business keys.

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "resource",
        sa.Column("res_type", sa.String(64), primary_key=True),
        sa.Column("res_id", sa.String(64), primary_key=True),
        sa.Column("version_id", sa.Integer, nullable=False),
        sa.Column("last_updated", sa.String(32), nullable=False),
        sa.Column("deleted", sa.Boolean, nullable=False),
        sa.Column("content", sa.Text, nullable=False),
    )
    op.create_index("ix_resource_type_updated", "resource", ["res_type", "last_updated"])
    op.create_table(
        "resource_version",
        sa.Column("res_type", sa.String(64), primary_key=True),
        sa.Column("res_id", sa.String(64), primary_key=True),
        sa.Column("version_id", sa.Integer, primary_key=True),
        sa.Column("last_updated", sa.String(32), nullable=False),
        sa.Column("method", sa.String(8), nullable=False),
        sa.Column("content", sa.Text, nullable=False),
    )
    op.create_table(
        "search_index",
        sa.Column("res_type", sa.String(64), nullable=False),
        sa.Column("res_id", sa.String(64), nullable=False),
        sa.Column("param", sa.String(64), nullable=False),
        sa.Column("system", sa.String(255)),
        sa.Column("value", sa.String(255)),
        sa.Column("low", sa.String(32)),
        sa.Column("high", sa.String(32)),
    )
    op.create_index("ix_search_value", "search_index", ["res_type", "param", "value"])
    op.create_index("ix_search_resource", "search_index", ["res_type", "res_id"])
    op.create_table(
        "business_key",
        sa.Column("res_type", sa.String(64), primary_key=True),
        sa.Column("system", sa.String(255), primary_key=True),
        sa.Column("value", sa.String(255), primary_key=True),
        sa.Column("res_id", sa.String(64), nullable=False),
    )


def downgrade() -> None:
    for name in ("business_key", "search_index", "resource_version", "resource"):
        op.drop_table(name)
