"""Notified pull end to end: the referral lives on the sender's FHIR server (Medplum, behind a gate that
wants the bearer token its token endpoint hands out); the sender POSTs a notification Task; the adapter
reads the ServiceRequest, its workflow Task and what they reference from there with the sender's token,
takes the referral in, answers with our Task, and updates the sender's workflow Task through the outbox
(If-Match; nothing lost while the sender is down). SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import copy
import json
import re
import threading
from pathlib import Path
from typing import Any

import pytest
import requests
from fastapi.testclient import TestClient
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from adapter.api.app import create_app
from adapter.config import Settings
from adapter.exchange.feedback import URI
from adapter.exchange.notified_pull import PARAMETER_SYSTEM, PULL_NOTIFICATION, TASK_CODE_SYSTEM
from adapter.exchange.outbox import Outbox
from adapter.exchange.peers import load_peers
from adapter.fhir.subject import client_of
from adapter.security.audit import AuditLog
from adapter.store.engine import Store
from tests.conftest import FHIR_JSON_HEADERS, JGZ_ORGANIZATION, bearer
from tests.exchange.conftest import BSN_SYSTEM, FAST, deliverer, drain, exchange_settings, peers_file
from tests.exchange.helpers import fresh
from tests.security.helpers import ORG_A, ORG_B, obstetric

pytestmark = pytest.mark.node
TOKEN = "de-wieg-token-1"
SECRET = "s3cret"


class SenderGate:
    """The sender's server as the adapter sees it: a token endpoint (client credentials, HTTP Basic) and
    its FHIR API under /fhir, which wants that token, in front of Medplum. Records what it was asked."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.seen: list[tuple[str, str, dict[str, str]]] = []
        self.down = False
        self.tokens = 0
        self._lock = threading.Lock()

    def __call__(self, request: Request) -> Response:
        if request.path == "/token":
            expected = "Basic " + base64.b64encode(f"voorzorg:{SECRET}".encode()).decode()
            if request.headers.get("Authorization") != expected:
                return Response(json.dumps({"error": "invalid_client"}), 401, content_type="application/json")
            with self._lock:
                self.tokens += 1
            body = {"access_token": TOKEN, "token_type": "Bearer", "expires_in": 300}
            return Response(json.dumps(body), 200, content_type="application/json")
        with self._lock:
            self.seen.append((request.method, request.full_path.rstrip("?"), dict(request.headers)))
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return Response(json.dumps({"resourceType": "OperationOutcome"}), 401)
        if self.down:
            return Response(json.dumps({"resourceType": "OperationOutcome"}), 503)
        r = requests.request(
            request.method,
            f"{self.target}{request.full_path.removeprefix('/fhir').rstrip('?')}",
            data=request.get_data(),
            headers={k: v for k, v in request.headers.items() if k.lower() in ("content-type", "if-match")},
            timeout=30,
        )
        headers = {k: v for k, v in r.headers.items() if k.lower() in ("content-type", "etag")}
        return Response(r.content, r.status_code, headers=headers)


@pytest.fixture
def sender(
    store: Store, tmp_path: Path, medplum: str, httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> tuple[Settings, SenderGate, str]:
    gate = SenderGate(medplum)
    httpserver.expect_request(re.compile(".*")).respond_with_handler(gate)
    base = httpserver.url_for("/fhir")
    monkeypatch.setenv("DE_WIEG_SECRET", SECRET)
    peer = {
        "base_url": base,
        "organization": ORG_A,
        "auth": "client-credentials",
        "token_url": httpserver.url_for("/token"),
        "client_id": "voorzorg",
        "client_secret_env": "DE_WIEG_SECRET",
        "retries": 0,
    }
    return exchange_settings(tmp_path, peers_file(tmp_path, **{"de-wieg": peer})), gate, base


def _at_sender(medplum: str, referral: dict[str, Any]) -> dict[str, str]:
    """The referral stored on the sender's server (as its own system would): Type -> its id there."""
    plain = copy.deepcopy(referral)  # plain creates: the test server takes conditional ones a few at a time
    for e in plain["entry"]:
        e["request"].pop("ifNoneExist", None)
    r = requests.post(medplum, json=plain, timeout=30)
    assert r.status_code == 200, r.text
    out: dict[str, str] = {}
    for sent, answer in zip(referral["entry"], r.json()["entry"], strict=True):
        res_type = sent["resource"]["resourceType"]
        out.setdefault(res_type, answer["response"]["location"].split("/")[1])
    return out


def notification(ids: dict[str, str], **changes: Any) -> dict[str, Any]:
    """A notification of the referral stored at the sender; `changes` replace elements (None: drop)."""
    body: dict[str, Any] = {
        "resourceType": "Task",
        "identifier": [{"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{ids['ServiceRequest']}"}],
        "status": "requested",
        "intent": "proposal",
        "code": {"coding": [{"system": TASK_CODE_SYSTEM, "code": PULL_NOTIFICATION}]},
        "focus": {"reference": f"ServiceRequest/{ids['ServiceRequest']}"},
        "basedOn": [{"reference": f"Task/{ids['Task']}"}],
        "requester": {"identifier": {"system": ORG_A.split("|")[0], "value": ORG_A.split("|")[1]}},
        "owner": {"identifier": dict(zip(("system", "value"), JGZ_ORGANIZATION.split("|"), strict=True))},
        "authoredOn": "2026-03-02T10:00:00+01:00",
        "input": [
            {
                "type": {"coding": [{"system": PARAMETER_SYSTEM, "code": "authorization-base"}]},
                "valueString": "x",
            },
            {
                "type": {"coding": [{"system": PARAMETER_SYSTEM, "code": "get-workflow-task"}]},
                "valueBoolean": True,
            },
        ],
    }
    for k, v in changes.items():
        if v is None:
            body.pop(k, None)
        else:
            body[k] = v
    return body


def _notify(client: TestClient, body: dict[str, Any]) -> Any:
    return client.post("/Task", content=json.dumps(body), headers=FHIR_JSON_HEADERS)


def test_notified_pull_end_to_end(
    store: Store, sender: tuple[Settings, SenderGate, str], medplum: str, referral: dict[str, Any]
) -> None:
    settings, gate, base = sender
    app = create_app(settings, store)
    body, bsn = fresh(referral)
    task = next(e["resource"] for e in body["entry"] if e["resource"]["resourceType"] == "Task")
    task["description"] = "Aanmelding VoorZorg (De Wieg)"
    ids = _at_sender(medplum, body)

    r = _notify(obstetric(app, settings), notification(ids))
    assert r.status_code == 201, r.text
    ours = r.json()
    assert ours["status"] == "accepted" and ours["businessStatus"]["coding"][0]["code"] == "intake-planned"
    assert {"system": URI, "value": f"{base}/Task/{ids['Task']}"} in ours["identifier"]
    assert r.headers["Location"].startswith(f"http://testserver/Task/{ours['id']}/_history/")

    # read at the sender, with its token: the referral, its Task, and what they reference
    reads = {path.split("/")[2] for method, path, _ in gate.seen if method == "GET"}
    assert {"ServiceRequest", "Task", "Patient", "Organization", "Observation", "Consent"} <= reads
    assert gate.tokens == 1 and all(h.get("Authorization") == f"Bearer {TOKEN}" for _, _, h in gate.seen)
    jgz = TestClient(app, headers=bearer(settings))
    patients = jgz.get("/Patient", params={"identifier": f"{BSN_SYSTEM}|{bsn}"}).json()
    assert _records(patients) == [ours["for"]["reference"]]  # one client; the sender's copy refers to her
    # the sender reads our Task as any referral's: it is its referral
    assert obstetric(app, settings).get(f"/Task/{ours['id']}").status_code == 200
    events = AuditLog(store).search(ours["for"]["reference"], 100, 0)[1]
    imports = [e for e in events if e["type"].get("code") == "110107"]
    assert imports and imports[0]["subtype"][0]["code"] == "transfer-in"
    assert any(a["who"].get("display") == "de-wieg" for a in imports[0]["agent"])

    # the sender's workflow Task follows, through the outbox: our part merged in, theirs kept
    [queued] = Outbox(store).list(status="pending")[1]
    assert (queued.flow, queued.peer) == ("obstetric-feedback", "de-wieg")
    worker = deliverer(store, load_peers(settings.peers_file), settings=FAST)
    drain(worker)
    theirs = requests.get(f"{medplum}/Task/{ids['Task']}", timeout=10).json()
    assert (
        theirs["status"] == "accepted" and theirs["businessStatus"]["coding"][0]["code"] == "intake-planned"
    )
    assert theirs["description"] == "Aanmelding VoorZorg (De Wieg)"
    assert theirs["focus"] == {"reference": f"ServiceRequest/{ids['ServiceRequest']}"}  # theirs, untouched
    [put] = [h for method, path, h in gate.seen if method == "PUT"]
    assert put.get("If-Match", "").startswith('W/"')

    # the sender down when the nurse starts: nothing lost, delivered once it is back
    gate.down = True
    r = jgz.put(
        f"/Task/{ours['id']}",
        content=json.dumps({**ours, "status": "in-progress"}),
        headers={**FHIR_JSON_HEADERS, "If-Match": f'W/"{ours["meta"]["versionId"]}"'},
    )
    assert r.status_code == 200, r.text
    for _ in range(3):
        worker.run_once()
    assert Outbox(store).counts()["pending"] == 1
    assert requests.get(f"{medplum}/Task/{ids['Task']}", timeout=10).json()["status"] == "accepted"
    gate.down = False
    drain(worker)
    assert requests.get(f"{medplum}/Task/{ids['Task']}", timeout=10).json()["status"] == "in-progress"

    # notified again (a resend): read again, the same referral and Task, her progress kept
    again = _notify(obstetric(app, settings), notification(ids))
    assert again.status_code == 200, again.text
    assert again.json()["id"] == ours["id"] and again.json()["status"] == "in-progress"
    patients = jgz.get("/Patient", params={"identifier": f"{BSN_SYSTEM}|{bsn}"}).json()
    assert patients["total"] == 2 and _records(patients) == [ours["for"]["reference"]]


def _records(found: dict[str, Any]) -> list[str]:
    """The client records among the Patients found: each sender's copy of her refers to one of them."""
    return sorted({client_of(e["resource"]) or "" for e in found.get("entry", [])})


def test_references_to_other_servers_are_not_followed(
    store: Store, sender: tuple[Settings, SenderGate, str], medplum: str, referral: dict[str, Any]
) -> None:
    settings, _, _ = sender
    body, _ = fresh(referral)
    elsewhere = "http://127.0.0.1:9/fhir/Practitioner/1"  # nothing listens there: a read would fail
    for e in body["entry"]:
        if e["resource"]["resourceType"] == "Observation":
            e["resource"]["performer"] = [{"reference": elsewhere}]
    ids = _at_sender(medplum, body)
    app = create_app(settings, store)
    r = _notify(obstetric(app, settings), notification(ids))
    assert r.status_code == 201, r.text
    jgz = TestClient(app, headers=bearer(settings))
    found = jgz.get("/Observation", params={"subject": r.json()["for"]["reference"]}).json()
    performers = [p for e in found["entry"] for p in e["resource"].get("performer", [])]
    assert performers and all(p == {"type": "Practitioner", "display": elsewhere} for p in performers)


def test_notifications_that_cannot_be_taken_in_are_refused_and_store_nothing(
    store: Store, sender: tuple[Settings, SenderGate, str], medplum: str, referral: dict[str, Any]
) -> None:
    settings, _, _ = sender
    app = create_app(settings, store)
    ids = _at_sender(medplum, fresh(referral)[0])
    me = obstetric(app, settings)

    plain = {"resourceType": "Task", "status": "requested", "intent": "order"}
    r = _notify(me, plain)
    assert r.status_code == 422 and "notified-pull notification only" in r.text

    r = _notify(obstetric(app, settings, ORG_B), notification(ids, requester=None))  # no peer for ORG_B
    assert r.status_code == 422 and "No FHIR endpoint is configured for the sender" in r.text

    r = _notify(obstetric(app, settings, ORG_B), notification(ids))  # in another's name
    assert r.status_code == 403

    r = _notify(me, notification(ids, focus={"reference": "ServiceRequest/not-there"}))
    assert r.status_code == 422 and "could not be read at the sender" in r.text

    r = _notify(me, notification(ids, owner={"identifier": {"system": "urn:x", "value": "someone-else"}}))
    assert r.status_code == 422 and r.json()["issue"][0]["expression"] == ["Task.owner"]

    with store.reading() as s:
        assert s.search("ServiceRequest", [], 1, 0)[0] == 0
    assert Outbox(store).counts()["pending"] == 0
