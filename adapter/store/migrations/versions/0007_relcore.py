"""The audit chain keyed (issue #16): each record names the key of its digest.

Records made before have no key (NULL): they keep their plain SHA-256 digests and still verify. The
adapter seals them in the same transaction as this migration, with a keyed record that links to the last
of them (`adapter.security.audit.seal_unkeyed`), so they cannot be rewritten unnoticed afterwards.

Revision ID: 0005_relcore
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_relcore"
down_revision = "0005_sec"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_event") as batch:
        batch.add_column(sa.Column("key_id", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("audit_event") as batch:
        batch.drop_column("key_id")
