"""Flow JGZ dossier against a real FHIR server (Medplum's router, tests/exchange/peer): on acceptance
and every later change, the client's Patient, CarePlan, Encounters, theme Goals and Observations arrive
at the peer, once, however often they are sent; a change made at the peer meanwhile (412) is re-read
and ours re-applied. Run on SQLite and PostgreSQL."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import requests
from fastapi.testclient import TestClient
from sqlalchemy import select

from adapter.api.app import create_app
from adapter.exchange.outbox import Outbox
from adapter.exchange.peers import load_peers
from adapter.exchange.worker import Worker
from adapter.security.audit import AuditLog
from adapter.store.engine import Store
from adapter.store.schema import peer_resource
from tests.api.test_careplan import _visit
from tests.conftest import FHIR_JSON_HEADERS, bearer, composed
from tests.exchange.conftest import (
    ADAPTER_ID,
    BSN_SYSTEM,
    FAST,
    deliverer,
    drain,
    exchange_settings,
    peers_file,
    search,
)
from tests.exchange.helpers import fresh, goal, intake, put

pytestmark = pytest.mark.node


@pytest.fixture
def setup(store: Store, tmp_path: Path, medplum: str) -> tuple[TestClient, Worker, str]:
    settings = exchange_settings(tmp_path, peers_file(tmp_path, **{"jgz-dossier": {"base_url": medplum}}))
    app = create_app(settings, store)
    client = TestClient(app, headers=bearer(settings))
    worker = deliverer(store, load_peers(settings.peers_file), settings=FAST)
    return client, worker, medplum


def _one(base: str, res_type: str, system: str, value: str) -> dict[str, Any]:
    found = search(base, res_type, identifier=f"{system}|{value}")
    assert len(found) == 1, f"{len(found)} copies of {res_type} {value} at the peer"
    return found[0]


def test_an_accepted_referral_and_its_later_changes_arrive_once_however_often_sent(
    setup: tuple[TestClient, Worker, str], referral: dict[str, Any], store: Store
) -> None:
    client, worker, peer = setup
    body, bsn = fresh(referral)
    made = intake(client, body)
    plan = made["CarePlan"]
    total, queued = Outbox(store).list(status="pending")
    assert total == 1 and queued[0].flow == "jgz-dossier" and queued[0].client == plan["subject"]["reference"]
    assert [e.split("/")[0] for e in queued[0].summary()["entries"]] == [
        "PUT Patient",
        "PUT CarePlan",
        "PUT EpisodeOfCare",  # her programme (planned)
    ]
    drain(worker)

    patient = _one(peer, "Patient", BSN_SYSTEM, bsn)
    careplan = _one(peer, "CarePlan", ADAPTER_ID, plan["id"])
    assert careplan["subject"] == {"reference": f"Patient/{patient['id']}"}
    assert careplan["status"] == "active" and len(careplan["activity"]) == len(plan["activity"])
    # the referral and the decision are not sent: logical references, never dangling ones
    assert all(
        "reference" not in ref and ref["identifier"]["system"] == ADAPTER_ID
        for ref in careplan["supportingInfo"]
    )

    # the same referral again, and the very same message again: still one copy of each
    intake(client, body)
    drain(worker)
    with store.engine.begin() as conn:  # as if a worker had died after sending, before marking
        from adapter.store.schema import outbox_message

        conn.execute(outbox_message.update().values(status="pending", attempts=0, next_attempt=0))
    drain(worker)
    _one(peer, "Patient", BSN_SYSTEM, bsn)
    _one(peer, "CarePlan", ADAPTER_ID, plan["id"])

    # a home visit: the Encounter arrives, and the CarePlan points at it by the peer's id
    r = client.post(
        "/Encounter", content=json.dumps(_visit(plan, 1, ident=f"v-{bsn}")), headers=FHIR_JSON_HEADERS
    )
    assert r.status_code in (200, 201), r.text
    drain(worker)
    encounter = _one(peer, "Encounter", ADAPTER_ID, r.json()["id"])
    assert encounter["subject"] == {"reference": f"Patient/{patient['id']}"}
    careplan = _one(peer, "CarePlan", ADAPTER_ID, plan["id"])
    done = [a for a in careplan["activity"] if a.get("outcomeReference")]
    assert done[0]["outcomeReference"] == [{"reference": f"Encounter/{encounter['id']}"}]

    # a theme goal goes too; what is not routed (the referral's own Observations) does not
    put(composed(client), goal(plan["subject"]["reference"], f"g-{bsn}", "Gezond eten"))
    drain(worker)
    assert _one(peer, "Goal", ADAPTER_ID, f"g-{bsn}")["description"]["text"] == "Gezond eten"
    assert search(peer, "Observation", subject=f"Patient/{patient['id']}") == []

    # every try is audited as a transfer of the client's data to the peer
    _, events = AuditLog(store).search(plan["subject"]["reference"], 100, 0)
    transfers = [e for e in events if e["type"]["code"] == "110106"]
    assert transfers and all(e["outcome"] == "0" for e in transfers)
    assert transfers[0]["subtype"][0]["code"] == "transfer-out"
    assert any(a["who"].get("display") == "jgz-dossier" for a in transfers[0]["agent"])


def test_a_change_made_at_the_peer_meanwhile_is_reread_and_ours_reapplied(
    setup: tuple[TestClient, Worker, str], referral: dict[str, Any], store: Store
) -> None:
    client, worker, peer = setup
    body, bsn = fresh(referral)
    intake(client, body)
    drain(worker)
    patient = _one(peer, "Patient", BSN_SYSTEM, bsn)
    with store.engine.connect() as conn:
        remembered = conn.execute(
            select(peer_resource.c.version_id).where(peer_resource.c.peer_id == patient["id"])
        ).scalar_one()
    assert remembered == patient["meta"]["versionId"]

    someone_else = {**patient, "telecom": [{"system": "phone", "value": "0612345678"}]}
    r = requests.put(f"{peer}/Patient/{patient['id']}", json=someone_else, timeout=10)
    assert r.status_code == 200  # the peer's version moves on without us

    changed = copy.deepcopy(body)
    next(e for e in changed["entry"] if e["resource"]["resourceType"] == "Patient")["resource"]["name"] = [
        {"family": "Jansen-de Vries", "given": ["Sanne"]}
    ]
    intake(client, changed)
    drain(worker)
    now = _one(peer, "Patient", BSN_SYSTEM, bsn)
    assert now["id"] == patient["id"] and now["name"][0]["family"] == "Jansen-de Vries"
    _, events = AuditLog(store).search(f"Patient/{_our_id(store, bsn)}", 100, 0)
    assert any("re-applied" in e["outcomeDesc"] for e in events if e["type"]["code"] == "110106")


def _our_id(store: Store, bsn: str) -> str:
    with store.reading() as s:
        found = s.find_key("Patient", BSN_SYSTEM, bsn)
    assert found
    return found


def test_a_referral_that_is_not_accepted_sends_nothing(
    setup: tuple[TestClient, Worker, str], referral: dict[str, Any], store: Store
) -> None:
    client, _, _ = setup
    body, _ = fresh(referral)
    for e in body["entry"]:
        for c in e["resource"].get("code", {}).get("coding", []):
            if c.get("code") == "very-vulnerable-situation":
                e["resource"]["valueBoolean"] = False
    made = intake(client, body)
    assert "CarePlan" not in made
    assert Outbox(store).counts() == {"pending": 0, "delivered": 0, "dead": 0}
