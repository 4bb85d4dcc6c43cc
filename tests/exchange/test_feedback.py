"""Obstetric feedback: the referral Task's status, reason and track back to the practice that sent the
referral — pushed to its FHIR server when it has a peer (Medplum standing in for it: made there once, then
merged into with If-Match, the sender's own changes kept; its own Task when it sent one), or left for it to
poll (`Task?requester=…&_lastUpdated=gt…` on our server) when it has none. SQLite and PostgreSQL."""

from __future__ import annotations

import copy
import json
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import requests
from fastapi.testclient import TestClient

from adapter.api.app import create_app
from adapter.exchange.outbox import Outbox
from adapter.exchange.peers import load_peers
from adapter.exchange.worker import Worker
from adapter.store.engine import Store
from adapter.store.schema import outbox_message
from adapter.workflows.plans import complete_due
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
from tests.exchange.helpers import fresh, intake
from tests.security.helpers import ORG_A, ORG_B, obstetric

TRACK = "https://fhir.voorzorg.nl/CodeSystem/voorzorg-track"


def _sender_app(store: Store, tmp_path: Path, base: str) -> tuple[TestClient, TestClient, Worker]:
    """The API with the referral's sender (De Wieg, ORG_A) as a peer: its client, the JGZ's, a worker."""
    peers = peers_file(tmp_path, **{"de-wieg": {"base_url": base, "organization": ORG_A, "retries": 0}})
    settings = exchange_settings(tmp_path, peers)
    app = create_app(settings, store)
    jgz = TestClient(app, headers=bearer(settings))
    return obstetric(app, settings), jgz, deliverer(store, load_peers(peers), settings=FAST)


def _move(jgz: TestClient, task: dict[str, Any], status: str) -> dict[str, Any]:
    read = jgz.get(f"/Task/{task['id']}")
    body = {**read.json(), "status": status}
    headers = {**FHIR_JSON_HEADERS, "If-Match": read.headers["etag"]}
    r = jgz.put(f"/Task/{task['id']}", content=json.dumps(body), headers=headers)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def _at_sender(base: str, system: str, value: str) -> dict[str, Any]:
    found = search(base, "Task", identifier=f"{system}|{value}")
    assert len(found) == 1, f"{len(found)} Tasks {value} at the sender"
    return found[0]


@pytest.mark.node
def test_the_status_goes_back_to_the_sender_at_intake_start_and_completion_merged_into_its_task(
    store: Store, tmp_path: Path, medplum: str, referral: dict[str, Any]
) -> None:
    sender, jgz, worker = _sender_app(store, tmp_path, medplum)
    body, bsn = fresh(referral)
    made = intake(sender, body)
    task = made["Task"]
    [queued] = Outbox(store).list(status="pending")[1]
    assert (queued.flow, queued.peer, queued.kind) == ("obstetric-feedback", "de-wieg", "task-update")
    drain(worker)

    theirs = _at_sender(medplum, ADAPTER_ID, task["id"])  # the sender sent no Task of its own: made once
    assert theirs["status"] == "accepted"
    assert {k: theirs["businessStatus"]["coding"][0][k] for k in ("system", "code")} == {
        "system": TRACK.replace("voorzorg-track", "voorzorg-path-status"),  # where she is
        "code": "intake-planned",
    }
    # logical references the sender can resolve: her BSN, its own referral number, its own AGB
    assert theirs["for"] == {"type": "Patient", "identifier": {"system": BSN_SYSTEM, "value": bsn}}
    sr = next(e["resource"] for e in body["entry"] if e["resource"]["resourceType"] == "ServiceRequest")
    assert theirs["focus"] == {"type": "ServiceRequest", "identifier": sr["identifier"][0]}
    assert theirs["requester"]["identifier"] == {"system": ORG_A.split("|")[0], "value": ORG_A.split("|")[1]}
    assert "reference" not in json.dumps(theirs)

    # the sender notes something on its Task meanwhile: our next update keeps it (merged, If-Match)
    noted = {**theirs, "note": [{"text": "cliënte gebeld"}]}
    assert requests.put(f"{medplum}/Task/{theirs['id']}", json=noted, timeout=10).status_code == 200
    _move(jgz, task, "in-progress")
    drain(worker)
    now = _at_sender(medplum, ADAPTER_ID, task["id"])
    assert now["id"] == theirs["id"] and now["status"] == "in-progress"
    assert now["note"] == [{"text": "cliënte gebeld"}]

    # the plan ends: completed, at the sender too; sending the same state again writes nothing there
    assert complete_due(composed(jgz), date(2031, 1, 1)) == [f"CarePlan/{made['CarePlan']['id']}"]
    drain(worker)
    done = _at_sender(medplum, ADAPTER_ID, task["id"])
    assert done["status"] == "completed"
    last = max(m.id for m in Outbox(store).list()[1])
    with store.engine.begin() as conn:  # as if the worker had died after sending, before recording it
        conn.execute(
            outbox_message.update()
            .where(outbox_message.c.id == last)
            .values(status="pending", next_attempt=0)
        )
    drain(worker)
    again = _at_sender(medplum, ADAPTER_ID, task["id"])
    assert again["meta"]["versionId"] == done["meta"]["versionId"]


@pytest.mark.node
def test_a_sender_that_sent_its_own_task_gets_that_task_updated_with_the_reason(
    store: Store, tmp_path: Path, medplum: str, referral: dict[str, Any]
) -> None:
    sender, _, worker = _sender_app(store, tmp_path, medplum)
    body, _ = fresh(referral)
    own = {
        "system": "urn:oid:2.16.528.1.1007.3.3.1234567.2",
        "value": f"T-{uuid.uuid4().hex[:12]}",
    }
    mine = {"resourceType": "Task", "identifier": [own], "status": "requested", "intent": "order"}
    mine["description"] = "Aanmelding VoorZorg, door De Wieg"
    r = requests.post(f"{medplum}/Task", json=mine, timeout=10)  # the sender's own Task, on its server
    assert r.status_code == 201
    for e in body["entry"]:
        if e["resource"]["resourceType"] == "Task":
            e["resource"]["identifier"] = [own]
        for c in e["resource"].get("code", {}).get("coding", []):
            if c.get("code") == "very-vulnerable-situation":
                e["resource"]["valueBoolean"] = False  # not eligible: rejected, with the reason
    assert intake(sender, copy.deepcopy(body))["Task"]["status"] == "rejected"
    drain(worker)
    theirs = _at_sender(medplum, own["system"], own["value"])
    assert theirs["id"] == r.json()["id"] and theirs["status"] == "rejected"
    assert theirs["statusReason"]["text"] and theirs["description"] == "Aanmelding VoorZorg, door De Wieg"
    assert search(medplum, "Task", identifier=f"{ADAPTER_ID}|{theirs['identifier'][0]['value']}") == []


def test_a_sender_without_an_endpoint_polls_its_own_tasks_by_requester_and_last_updated(
    store: Store, tmp_path: Path, referral: dict[str, Any]
) -> None:
    # some peer is configured (the outbox hook is on), but none for the sender: nothing is pushed
    settings = exchange_settings(
        tmp_path, peers_file(tmp_path, **{"jgz-dossier": {"base_url": "http://127.0.0.1:9"}})
    )
    app = create_app(settings, store)
    sender, jgz = obstetric(app, settings), TestClient(app, headers=bearer(settings))
    start = "2000-01-01T00:00:00Z"
    made = intake(sender, fresh(referral)[0])
    task, org = made["Task"], made["Organization"]
    assert {m.flow for m in Outbox(store).list()[1]} == {"jgz-dossier"}

    def poll(client: TestClient, since: str) -> list[dict[str, Any]]:
        r = client.get(
            "/Task", params={"requester": f"Organization/{org['id']}", "_lastUpdated": f"gt{since}"}
        )
        assert r.status_code == 200, r.text
        return [e["resource"] for e in r.json().get("entry", [])]

    [seen] = poll(sender, start)
    assert seen["id"] == task["id"] and seen["status"] == "accepted"
    assert poll(sender, seen["meta"]["lastUpdated"]) == []  # nothing new since
    _move(jgz, task, "in-progress")
    [changed] = poll(sender, seen["meta"]["lastUpdated"])
    assert changed["status"] == "in-progress"
    assert poll(sender, changed["meta"]["lastUpdated"]) == []
    assert poll(obstetric(app, settings, ORG_B), start) == []  # another practice sees none of it


def test_a_sender_peer_names_its_organisations_as_system_and_value(tmp_path: Path) -> None:
    from adapter.exchange.peers import peer_of

    both = [ORG_A, "http://fhir.nl/fhir/NamingSystem/ura|00001234"]
    peers = load_peers(
        peers_file(tmp_path, **{"de-wieg": {"base_url": "http://x/fhir", "organization": both}})
    )
    assert peer_of(peers, both[1]) is peers["de-wieg"] and peer_of(peers, ORG_B) is None
    with pytest.raises(ValueError, match=r"is not 'system\|value'"):
        load_peers(
            peers_file(tmp_path, **{"de-wieg": {"base_url": "http://x/fhir", "organization": "09012345"}})
        )
