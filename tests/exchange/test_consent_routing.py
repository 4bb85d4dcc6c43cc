"""Consent and superseding in the outbox, on SQLite and PostgreSQL: the JGZ dossier flow queues nothing
for a client who objects (and drops what was queued for her); a newer message of a superseding flow
replaces the older undelivered ones it covers — never one a worker is sending, dead ones too."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from pytest_httpserver import HTTPServer

from adapter.api.app import create_app
from adapter.exchange.outbox import Outbox, enqueue
from adapter.exchange.peers import load_peers
from adapter.store.engine import Store
from adapter.store.session import Session
from tests.api.test_careplan import _visit
from tests.api.test_sharing import _consent
from tests.conftest import FHIR_JSON_HEADERS, bearer
from tests.exchange.conftest import FAST, deliverer, drain, exchange_settings, peers_file
from tests.exchange.helpers import fake_transaction_peer, fresh, intake


def _post(client: TestClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    r = client.post(path, content=json.dumps(body), headers=FHIR_JSON_HEADERS)
    assert r.status_code in (200, 201), r.text
    out: dict[str, Any] = r.json()
    return out


def test_the_jgz_dossier_flow_skips_a_client_who_objects(
    store: Store, tmp_path: Path, httpserver: HTTPServer, referral: dict[str, Any]
) -> None:
    log: list[int] = []
    httpserver.expect_request("/", method="POST").respond_with_handler(
        fake_transaction_peer(log, threading.Lock())
    )
    settings = exchange_settings(
        tmp_path, peers_file(tmp_path, **{"jgz-dossier": {"base_url": httpserver.url_for("")}})
    )
    client = TestClient(create_app(settings, store), headers=bearer(settings))
    plans = [intake(client, fresh(referral)[0])["CarePlan"] for _ in range(2)]
    objects, other = (p["subject"]["reference"] for p in plans)
    outbox = Outbox(store)
    assert outbox.counts()["pending"] == 2  # both accepted, neither objected yet

    objection = _post(client, "/Consent", _consent(objects, permit=False, code="jgz-dossier"))
    [dropped] = outbox.list(client=objects)[1]
    assert dropped.status == "superseded" and "no longer permits jgz-dossier" in (dropped.last_error or "")

    for i, plan in enumerate(plans):  # a home visit each: only the other client's goes
        _post(client, "/Encounter", _visit(plan, 1, ident=f"v-{i}-{plan['id']}"))
    assert outbox.list(client=objects, status="pending")[0] == 0
    assert outbox.list(client=other, status="pending")[0] == 2
    drain(deliverer(store, load_peers(settings.peers_file), settings=FAST))
    sent = {m.id for m in outbox.list(status="delivered")[1]}
    assert sorted(log) == sorted(sent) and all(m.client == other for m in outbox.list(status="delivered")[1])

    # the objection withdrawn: opt-out again, so her next change goes
    r = client.put(
        f"/Consent/{objection['id']}",
        content=json.dumps({**objection, "status": "inactive"}),
        headers={**FHIR_JSON_HEADERS, "If-Match": 'W/"1"'},
    )
    assert r.status_code == 200, r.text
    _post(client, "/Encounter", _visit(plans[0], 2, ident=f"v-2-{plans[0]['id']}"))
    assert outbox.list(client=objects, status="pending")[0] == 1


# --- superseding -----------------------------------------------------------------------------------
def _payload(*ids: str) -> dict[str, Any]:
    return {
        "entries": [
            {"type": "Task", "id": i, "method": "PUT", "resource": {"resourceType": "Task", "id": i}}
            for i in ids
        ]
    }


def _queue(store: Store, *ids: str, client: str = "Patient/a", flow: str = "f") -> int:
    def work(s: Session) -> int:
        return enqueue(
            s, flow=flow, kind="transaction", peer="p", client=client, payload=_payload(*ids), supersede=True
        )

    return store.write(work)


def _status(store: Store) -> dict[int, str]:
    return {m.id: m.status for m in Outbox(store).list(limit=1000)[1]}


def test_a_newer_message_supersedes_the_older_undelivered_ones_it_covers(store: Store) -> None:
    first = _queue(store, "t1")
    second = _queue(store, "t2")  # does not cover t1: both stay
    other_client = _queue(store, "t1", client="Patient/b")
    other_flow = _queue(store, "t1", flow="g")
    assert set(_status(store).values()) == {"pending"}
    third = _queue(store, "t1", "t2")
    assert _status(store) == {
        first: "superseded",
        second: "superseded",
        other_client: "pending",
        other_flow: "pending",
        third: "pending",
    }
    assert Outbox(store).get(first).last_error == f"superseded by message {third}"  # type: ignore[union-attr]


def test_a_message_being_sent_is_not_superseded_and_the_newer_one_waits_behind_it(store: Store) -> None:
    outbox = Outbox(store)
    sending = _queue(store, "t1")
    [claimed] = outbox.claim("w1", peers=["p"])
    assert claimed.id == sending
    newer = _queue(store, "t1")
    assert _status(store) == {sending: "pending", newer: "pending"}
    assert outbox.claim("w2", peers=["p"]) == []  # in order: behind the one in flight
    assert outbox.delivered(claimed, "w1")
    assert [m.id for m in outbox.claim("w2", peers=["p"])] == [newer]


def test_a_dead_message_is_superseded_and_no_longer_holds_the_newer_one_back(store: Store) -> None:
    outbox = Outbox(store)
    dead = _queue(store, "t1")
    [m] = outbox.claim("w", peers=["p"])
    outbox.failed(m, "w", "HTTP 400", transient=False, max_attempts=3, backoff=0, backoff_max=0)
    assert outbox.held() == 0 and _status(store) == {dead: "dead"}
    newer = _queue(store, "t1")
    assert _status(store) == {dead: "superseded", newer: "pending"}
    assert outbox.retry() == 0  # nothing dead to revive: the newer message carries the state
    assert [x.id for x in outbox.claim("w", peers=["p"])] == [newer]


def test_purge_removes_superseded_messages_too(store: Store) -> None:
    _queue(store, "t1")
    kept = _queue(store, "t1")
    outbox = Outbox(store)
    assert outbox.purge_delivered(older_than=3600) == 0
    assert outbox.purge_delivered() == 1
    assert _status(store) == {kept: "pending"}
    assert outbox.counts() == {"pending": 1, "delivered": 0, "dead": 0}
