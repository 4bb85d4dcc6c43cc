"""The monitoring population, built once per module and backend (SQLite, PostgreSQL) through the API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from adapter.api.app import create_app
from adapter.config import Settings
from adapter.store.engine import Store
from tests.conftest import EXAMPLE_REFERRAL, bearer, postgres_store
from tests.monitoring.population import CONSULT_ORG, Built, build


@dataclass
class World:
    store: Store
    settings: Settings
    jgz: TestClient
    built: Built
    as_: Any  # (**bearer arguments) -> TestClient of the same app


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("monitoring")
    stores: Iterator[Store] | None = None
    if request.param == "postgres":
        stores = postgres_store()
        store = next(stores)
    else:
        store = Store(f"sqlite:///{tmp / 'voorzorg.db'}")
        store.migrate()
    settings = Settings(data_dir=tmp, base_url="http://testserver")
    app = create_app(settings, store)
    made: list[TestClient] = []

    def as_(**token: Any) -> TestClient:
        c = TestClient(app, headers=bearer(settings, **token), raise_server_exceptions=False)
        made.append(c)
        return c

    jgz = as_()
    consult = as_(
        role="consult",
        scope="system/Task.rus system/ServiceRequest.rs",
        organization=CONSULT_ORG,
        client_id="voorzorg-consult",
    )
    built = build(jgz, consult, json.loads(EXAMPLE_REFERRAL.read_text(encoding="utf-8")))
    yield World(store, settings, jgz, built, as_)
    for c in made:
        c.close()
    if stores is not None:
        next(stores, None)
    else:
        store.dispose()
