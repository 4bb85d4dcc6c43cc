"""The programme's search parameters: EpisodeOfCare `_profile` and `incoming-referral` (R4's name for
`referralRequest`) are indexed from now on; the EpisodeOfCare rows already stored are indexed again so a
search finds them too (the OZKS tells its summaries by `_profile`).

Revision ID: 0009_path
Revises: 0005_xchg
"""

import json

import sqlalchemy as sa
from alembic import op

from adapter.store.indexing import index_rows
from adapter.store.schema import resource, search_index

revision = "0009_path"
down_revision = "0005_xchg"
branch_labels = None
depends_on = None

_REINDEXED = "EpisodeOfCare"


def upgrade() -> None:
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(resource.c.res_id, resource.c.content).where(
            resource.c.res_type == _REINDEXED, resource.c.deleted.is_(False)
        )
    ).all()
    for res_id, content in rows:
        conn.execute(
            sa.delete(search_index).where(
                search_index.c.res_type == _REINDEXED, search_index.c.res_id == res_id
            )
        )
        indexed = [
            {
                "res_type": _REINDEXED,
                "res_id": res_id,
                "param": r.param,
                "system": r.system,
                "value": r.value,
                "low": r.low,
                "high": r.high,
            }
            for r in index_rows(json.loads(content))
        ]
        if indexed:
            conn.execute(sa.insert(search_index), indexed)


def downgrade() -> None:
    # the extra index rows are harmless to the earlier code, which never asks for them
    pass
