"""A referral is stored whole or not at all: the database itself fails late in the transaction.

The failure is a real trigger on the `resource` table, refusing the GuidanceResponse, which the intake
writes after the Patient, the ServiceRequest, the Observations and the business keys.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text

from adapter.store.engine import Store
from tests.api.helpers import BSN, BSN_SYSTEM, FF, one, post, set_bool, total
from tests.conftest import install_failing_trigger, remove_failing_trigger

STORED_TYPES = (
    "Patient",
    "Organization",
    "ServiceRequest",
    "Observation",
    "Consent",
    "Task",
    "GuidanceResponse",
)
INTERNALS = (
    "injected",
    "Traceback",
    "sqlalchemy",
    "sqlite",
    "psycopg",
    "INSERT",
    "UPDATE",
    "resource_version",
)


@pytest.fixture
def client(app: FastAPI, auth_headers: dict[str, str]) -> TestClient:
    """Like the shared client, but answering a server error as the HTTP response a sender gets."""
    return TestClient(app, headers=auth_headers, raise_server_exceptions=False)


@pytest.fixture
def failing_insert(store: Store) -> Iterator[Store]:
    install_failing_trigger(store, "INSERT")
    yield store
    remove_failing_trigger(store)


def _rows(store: Store, table: str) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def _assert_internal_error(r: Any) -> None:
    assert r.status_code == 500, r.text
    assert r.headers["content-type"].startswith("application/fhir+json")
    outcome = r.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"] and all(i["severity"] in ("error", "fatal") for i in outcome["issue"])
    for word in INTERNALS:
        assert word.lower() not in r.text.lower(), word
    assert BSN not in r.text


def test_a_late_database_failure_stores_nothing(
    failing_insert: Store, client: TestClient, referral: dict[str, Any]
) -> None:
    r = post(client, referral)
    _assert_internal_error(r)
    for rtype in STORED_TYPES:
        assert total(client, f"/{rtype}") == 0, rtype
    assert total(client, f"/Patient?identifier={BSN_SYSTEM}|{BSN}") == 0
    for table in ("resource", "resource_version", "search_index", "business_key"):
        assert _rows(failing_insert, table) == 0, table


def test_after_the_failure_the_next_intake_creates_version_1_of_everything(
    failing_insert: Store, client: TestClient, referral: dict[str, Any]
) -> None:
    assert post(client, copy.deepcopy(referral)).status_code == 500
    remove_failing_trigger(failing_insert)
    r = post(client, referral)
    assert r.status_code == 200, r.text
    for e in r.json()["entry"]:
        assert e["response"]["status"].startswith("201"), e["fullUrl"]
        assert e["response"]["etag"] == 'W/"1"', e["fullUrl"]
    assert total(client, "/Patient") == 1
    assert total(client, "/ServiceRequest") == 1


def test_a_failed_resend_leaves_the_earlier_referral_as_it_was(
    store: Store, client: TestClient, referral: dict[str, Any]
) -> None:
    first = post(client, referral)
    assert first.status_code == 200, first.text
    task = one(first.json(), "Task")
    versions_before = _rows(store, "resource_version")
    install_failing_trigger(store, "UPDATE")
    try:
        changed = copy.deepcopy(referral)
        set_bool(changed, FF, True)
        _assert_internal_error(post(client, changed))
    finally:
        remove_failing_trigger(store)
    assert _rows(store, "resource_version") == versions_before
    read = client.get(f"/Task/{task['id']}")
    assert read.headers["etag"] == 'W/"1"'
    assert read.json()["status"] == "accepted"
    ff = client.get(
        "/Observation?code=https://fhir.voorzorg.nl/CodeSystem/voorzorg-referral-item|forced-framework"
    )
    assert ff.json()["total"] == 1
    assert ff.json()["entry"][0]["resource"]["valueBoolean"] is False
    assert ff.json()["entry"][0]["resource"]["meta"]["versionId"] == "1"
