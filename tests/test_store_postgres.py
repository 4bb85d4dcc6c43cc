"""How the store talks to PostgreSQL, where that is something an operator relies on."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import text

from adapter.store.engine import Store
from tests.conftest import postgres_store


@pytest.fixture
def pg() -> Iterator[Store]:
    yield from postgres_store()


@pytest.mark.postgres
def test_the_store_keeps_no_server_side_prepared_statements(pg: Store) -> None:
    """A query run many times is never prepared on the server.

    psycopg prepares a statement after its fifth run; PostgreSQL may then keep a generic plan made while
    the tables were small, and the adapter's searches on common values (a Task code, a Consent category)
    got slower with every client taken in. Prepared statements also break PgBouncer's transaction pooling.
    """
    with pg.engine.connect() as conn:
        for i in range(10):
            conn.execute(
                text("SELECT res_id FROM resource WHERE res_type = :t AND res_id = :i"),
                {"t": "Task", "i": str(i)},
            )
        prepared = conn.execute(text("SELECT count(*) FROM pg_prepared_statements")).scalar_one()
    assert prepared == 0
