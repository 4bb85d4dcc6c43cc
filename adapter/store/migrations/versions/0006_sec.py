"""A sender's data stays the sender's: business keys within an owner, and who wrote each version.

`business_key.owner` scopes a key to the organisation whose numbering it is (the referring practice's
referral numbers, the Organization and Practitioner records it sends); '' is the one key space shared
by all (the client's BSN). Existing keys of those types take the one organisation that has a part in
the resource (`resource_access`), else ''.

`resource_version.author` is the organisation that wrote the version when a referrer (not the JGZ)
wrote it, so history and vread never show one organisation's version to another. Existing versions:
none (as written by the JGZ).

Revision ID: 0005_sec
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_sec"
down_revision = "0005_fhirb"
branch_labels = None
depends_on = None

#: The keys that are an organisation's own numbering (adapter.workflows.intake).
_OWNED = ("ServiceRequest", "Organization", "Practitioner", "PractitionerRole")


def upgrade() -> None:
    op.add_column("resource_version", sa.Column("author", sa.String(255)))
    op.create_table(
        "business_key_owned",
        sa.Column("res_type", sa.String(64), primary_key=True),
        sa.Column("system", sa.String(255), primary_key=True),
        sa.Column("value", sa.String(255), primary_key=True),
        sa.Column("owner", sa.String(255), primary_key=True, server_default=""),
        sa.Column("res_id", sa.String(64), nullable=False),
    )
    owned = ", ".join(f"'{t}'" for t in _OWNED)
    op.execute(
        "INSERT INTO business_key_owned (res_type, system, value, owner, res_id) "
        "SELECT k.res_type, k.system, k.value, "
        f"CASE WHEN k.res_type IN ({owned}) THEN COALESCE(("
        "  SELECT MIN(a.organization) FROM resource_access a"
        "  WHERE a.res_type = k.res_type AND a.res_id = k.res_id"
        "  HAVING COUNT(*) = 1), '') ELSE '' END, "
        "k.res_id FROM business_key k"
    )
    op.drop_table("business_key")
    op.rename_table("business_key_owned", "business_key")


def downgrade() -> None:
    op.create_table(
        "business_key_shared",
        sa.Column("res_type", sa.String(64), primary_key=True),
        sa.Column("system", sa.String(255), primary_key=True),
        sa.Column("value", sa.String(255), primary_key=True),
        sa.Column("res_id", sa.String(64), nullable=False),
    )
    op.execute(
        "INSERT INTO business_key_shared (res_type, system, value, res_id) "
        "SELECT res_type, system, value, MIN(res_id) FROM business_key GROUP BY res_type, system, value"
    )
    op.drop_table("business_key")
    op.rename_table("business_key_shared", "business_key")
    with op.batch_alter_table("resource_version") as batch:
        batch.drop_column("author")
