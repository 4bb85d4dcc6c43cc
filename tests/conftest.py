"""Fixtures shared by the tests: a real store on SQLite and on PostgreSQL, the app, a referral."""

from __future__ import annotations

import copy
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text

from adapter.api.app import create_app
from adapter.config import PROJECT_ROOT, Settings
from adapter.security.tokens import IssuerKey, mint
from adapter.store.engine import Store, unreachable

POSTGRES_URL = os.environ.get(
    "VOORZORG_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
EXAMPLE_REFERRAL = PROJECT_ROOT / "examples" / "referral.json"


def _postgres_reason() -> str | None:
    """None when PostgreSQL answers, else why not (the tests on it then skip with that message)."""
    why = unreachable(POSTGRES_URL)
    return f"PostgreSQL not reachable at {POSTGRES_URL}: {why}" if why else None


_PG_REASON = _postgres_reason()


@pytest.fixture(scope="session")
def postgres_available() -> None:
    if _PG_REASON:
        pytest.skip(_PG_REASON)


#: Migrated schemas this test process made and emptied again, ready for the next test (a migration
#: costs ~0.4 s, emptying ~0.03 s: the suite has some 1,600 tests on PostgreSQL).
_EMPTY_SCHEMAS: list[tuple[str, tuple[str, ...]]] = []


def _schema_url(schema: str) -> str:
    sep = "&" if "?" in POSTGRES_URL else "?"
    return f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}"


_SHAPE = text(
    "SELECT 'version ' || version_num FROM alembic_version"
    " UNION ALL SELECT 'relation ' || c.relkind::text || ' ' || c.relname FROM pg_class c"
    "  WHERE c.relnamespace = to_regnamespace(:s)"
    " UNION ALL SELECT 'function ' || p.proname FROM pg_proc p WHERE p.pronamespace = to_regnamespace(:s)"
    " UNION ALL SELECT 'trigger ' || t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
    "  WHERE c.relnamespace = to_regnamespace(:s) AND NOT t.tgisinternal"
)


def _shape(conn: Any, schema: str) -> tuple[str, ...]:
    """What the schema is made of (its migration, tables, indexes, sequences, functions, triggers): a test
    that changes it (a failure-injecting trigger, a migration down) leaves a schema that is not reused."""
    conn.execute(text(f'SET LOCAL search_path TO "{schema}"'))
    return tuple(sorted(conn.execute(_SHAPE, {"s": schema}).scalars()))


def _relations(shape: tuple[str, ...], kind: str) -> list[str]:
    prefix = f"relation {kind} "
    return [entry[len(prefix) :] for entry in shape if entry.startswith(prefix)]


@cache
def _admin() -> Engine:
    """One connection pool per test process for making, emptying and dropping the test schemas."""
    return create_engine(POSTGRES_URL)


def _empty_or_drop(schema: str, shape: tuple[str, ...]) -> None:
    """Back to the pool, emptied, when the test left the schema as it was made; else dropped. DELETE and a
    sequence restart, not TRUNCATE: on tables this small that is 5 ms against 75 (the schema has no
    foreign keys and no triggers; a test that adds a trigger changes the shape, and its schema is dropped)."""
    with _admin().begin() as conn:
        if _shape(conn, schema) != shape:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            return
        for table in _relations(shape, "r"):
            if table != "alembic_version":
                conn.execute(text(f'DELETE FROM "{schema}"."{table}"'))
        for sequence in _relations(shape, "S"):
            conn.execute(text(f'ALTER SEQUENCE "{schema}"."{sequence}" RESTART'))
    _EMPTY_SCHEMAS.append((schema, shape))


def postgres_store() -> Iterator[Store]:
    """A store in a schema of its own inside the `test` database: a fresh, fully migrated schema, empty;
    afterwards emptied for the next test of this process (or dropped)."""
    if _PG_REASON:
        pytest.skip(_PG_REASON)
    if _EMPTY_SCHEMAS:
        schema, shape = _EMPTY_SCHEMAS.pop()
    else:
        schema = f"t_{uuid.uuid4().hex[:12]}"
        with _admin().begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        migrated = Store(_schema_url(schema))
        migrated.migrate()
        migrated.dispose()
        with _admin().begin() as conn:
            shape = _shape(conn, schema)
    store = Store(_schema_url(schema))  # at the newest migration already
    try:
        yield store
    finally:
        store.dispose()
        _empty_or_drop(schema, shape)


@pytest.fixture(scope="session", autouse=True)
def _drop_pooled_schemas() -> Iterator[None]:
    yield
    if _EMPTY_SCHEMAS:
        with _admin().begin() as conn:
            for schema, _ in _EMPTY_SCHEMAS:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        _EMPTY_SCHEMAS.clear()
    if _admin.cache_info().currsize:
        _admin().dispose()


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file per test process, copied for each test (a migration costs ~0.1 s)."""
    path = tmp_path_factory.mktemp("template") / "voorzorg.db"
    made = Store(f"sqlite:///{path}")
    made.migrate()
    made.dispose()
    return path


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path, migrated_sqlite: Path) -> Iterator[Store]:
    """The store on each backend the adapter supports."""
    if request.param == "postgres":
        yield from postgres_store()
        return
    shutil.copyfile(migrated_sqlite, tmp_path / "voorzorg.db")
    s = Store(f"sqlite:///{tmp_path / 'voorzorg.db'}")  # at the newest migration already
    yield s
    s.dispose()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, base_url="http://testserver")


JGZ_ORGANIZATION = "http://fhir.nl/fhir/NamingSystem/ura|00000000"


def bearer(
    settings: Settings,
    *,
    role: str = "jgz",
    scope: str = "system/*.cruds",
    organization: str | None = JGZ_ORGANIZATION,
    client_id: str = "test-client",
) -> dict[str, str]:
    """Authorization header with a token of the adapter's own issuer, as `voorzorg-adapter token` mints."""
    token = mint(
        IssuerKey(settings.issuer_key_path),
        issuer=settings.issuer,
        audience=settings.effective_audience,
        client_id=client_id,
        scope=scope,
        role=role,
        organization=organization,
    )
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def auth_headers(settings: Settings) -> dict[str, str]:
    """Headers that authenticate the JGZ organisation with every right on client data."""
    return bearer(settings)


@pytest.fixture
def app(store: Store, settings: Settings) -> FastAPI:
    return create_app(settings, store)


def composed(client: TestClient) -> Store:
    """The store of the app behind `client`, with the effects every unit of work runs (summary, outbox,
    audit), acting for the operator: a change through it is made as a command would make it."""
    return client.app.state.ctx.adapter.operator("tests")  # type: ignore[attr-defined,no-any-return]


@pytest.fixture
def client(app: FastAPI, auth_headers: dict[str, str]) -> TestClient:
    """A client of the app on each backend, authenticated with every right."""
    return TestClient(app, headers=auth_headers)


@pytest.fixture
def referral() -> dict[str, Any]:
    """The README's example referral (first child, 14 weeks, 21 years old: VoorZorg)."""
    data: dict[str, Any] = json.loads(EXAMPLE_REFERRAL.read_text(encoding="utf-8"))
    return copy.deepcopy(data)


FHIR_JSON_HEADERS = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}


def install_failing_trigger(store: Store, event: str = "INSERT") -> None:
    """A real database failure late in an intake: the database refuses to write a GuidanceResponse."""
    with store.engine.begin() as conn:
        if store.is_sqlite:
            conn.execute(
                text(
                    f"CREATE TRIGGER fail_guidance BEFORE {event} ON resource "
                    "WHEN NEW.res_type='GuidanceResponse' BEGIN SELECT RAISE(ABORT,'injected'); END;"
                )
            )
        else:
            conn.execute(
                text(
                    "CREATE FUNCTION fail_guidance() RETURNS trigger LANGUAGE plpgsql AS $$ "
                    "BEGIN IF NEW.res_type = 'GuidanceResponse' THEN RAISE EXCEPTION 'injected'; END IF; "
                    "RETURN NEW; END $$"
                )
            )
            conn.execute(
                text(
                    f"CREATE TRIGGER fail_guidance BEFORE {event} ON resource "
                    "FOR EACH ROW EXECUTE FUNCTION fail_guidance()"
                )
            )


def remove_failing_trigger(store: Store) -> None:
    with store.engine.begin() as conn:
        if store.is_sqlite:
            conn.execute(text("DROP TRIGGER IF EXISTS fail_guidance"))
        else:
            conn.execute(text("DROP TRIGGER IF EXISTS fail_guidance ON resource"))
            conn.execute(text("DROP FUNCTION IF EXISTS fail_guidance()"))
