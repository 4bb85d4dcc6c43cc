"""Fixtures shared by the tests: a real store on SQLite and on PostgreSQL, the app, a referral."""

from __future__ import annotations

import copy
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

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


def postgres_store() -> Iterator[Store]:
    """A store in a schema of its own inside the `test` database, dropped afterwards."""
    if _PG_REASON:
        pytest.skip(_PG_REASON)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in POSTGRES_URL else "?"
    store = Store(f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}")
    store.migrate()
    try:
        yield store
    finally:
        store.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """The store on each backend the adapter supports."""
    if request.param == "postgres":
        yield from postgres_store()
        return
    s = Store(f"sqlite:///{tmp_path / 'voorzorg.db'}")
    s.migrate()
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
