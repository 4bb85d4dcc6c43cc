"""The transactional outbox on SQLite and PostgreSQL: a change and its message commit together or not at
all (real database failures by trigger), messages of one client go in order, several workers never send
one message twice at once, dead letters are visible and retryable; a worker whose lease passed to another
can neither send nor settle, a withdrawal stops what a worker holds and the deletion waits for it, her
consent is checked at the moment of sending, and a peer's circuit lets one probe through while open."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pytest_httpserver import HTTPServer
from sqlalchemy import text

from adapter.api.app import create_app
from adapter.exchange.circuit import Circuits, CircuitSettings
from adapter.exchange.outbox import LOST, SUPERSEDED, Outbox, enqueue, withdraw
from adapter.exchange.peers import Peer
from adapter.exchange.worker import WorkerSettings
from adapter.store.engine import Store
from adapter.store.session import Session
from tests.conftest import FHIR_JSON_HEADERS, bearer, install_failing_trigger, remove_failing_trigger
from tests.exchange.conftest import FAST, deliverer, drain, exchange_settings, peers_file
from tests.exchange.helpers import fake_transaction_peer, fresh

PEER = "jgz-dossier"


def _entries(n: int) -> dict[str, Any]:
    resource = {"resourceType": "Goal", "id": f"g{n}", "description": {"text": f"v{n}"}}
    return {"entries": [{"type": "Goal", "id": f"g{n}", "method": "PUT", "resource": resource}]}


def _enqueue(store: Store, client: str, n: int, peer: str = PEER) -> int:
    def work(s: Session) -> int:
        return enqueue(s, flow="test", kind="transaction", peer=peer, client=client, payload=_entries(n))

    return store.write(work)


# --- atomicity ------------------------------------------------------------------------------------
@pytest.fixture
def routed(store: Store, tmp_path: Path) -> TestClient:
    """The API with the JGZ dossier peer configured (never reached: the worker is off)."""
    settings = exchange_settings(tmp_path, peers_file(tmp_path, **{PEER: {"base_url": "http://127.0.0.1:9"}}))
    return TestClient(create_app(settings, store), headers=bearer(settings))


def _post(client: TestClient, body: dict[str, Any]) -> int:
    return client.post("/", content=json.dumps(body), headers=FHIR_JSON_HEADERS).status_code


def _patients(store: Store) -> int:
    with store.reading() as s:
        return s.search("Patient", [], 1, 0)[0]


def test_a_failing_change_leaves_no_message(
    routed: TestClient, store: Store, referral: dict[str, Any]
) -> None:
    install_failing_trigger(store)  # the database refuses the GuidanceResponse late in the intake
    try:
        assert _post(routed, fresh(referral)[0]) == 500
    finally:
        remove_failing_trigger(store)
    assert Outbox(store).counts()["pending"] == 0 and _patients(store) == 0
    assert _post(routed, fresh(referral)[0]) == 200  # and without the failure: the change and its message
    assert Outbox(store).counts()["pending"] == 1 and _patients(store) == 1


def test_a_failing_message_leaves_no_change(
    routed: TestClient, store: Store, referral: dict[str, Any]
) -> None:
    with store.engine.begin() as conn:  # the database refuses the outbox row
        if store.is_sqlite:
            conn.execute(
                text(
                    "CREATE TRIGGER fail_outbox BEFORE INSERT ON outbox_message "
                    "BEGIN SELECT RAISE(ABORT,'injected'); END;"
                )
            )
        else:
            conn.execute(
                text(
                    "CREATE FUNCTION fail_outbox() RETURNS trigger LANGUAGE plpgsql AS $$ "
                    "BEGIN RAISE EXCEPTION 'injected'; END $$"
                )
            )
            conn.execute(
                text(
                    "CREATE TRIGGER fail_outbox BEFORE INSERT ON outbox_message "
                    "FOR EACH ROW EXECUTE FUNCTION fail_outbox()"
                )
            )
    assert _post(routed, fresh(referral)[0]) == 500
    assert _patients(store) == 0 and Outbox(store).counts()["pending"] == 0
    with store.reading() as s:
        assert s.search("Task", [], 1, 0)[0] == 0 and s.search("CarePlan", [], 1, 0)[0] == 0


# --- order, claims, workers -----------------------------------------------------------------------
def test_one_client_at_a_time_in_order_others_alongside(store: Store) -> None:
    a = [_enqueue(store, "Patient/a", n) for n in range(3)]
    b = _enqueue(store, "Patient/b", 9)
    outbox = Outbox(store)
    first = outbox.claim("w1", limit=10)
    assert [m.id for m in first] == [a[0], b]  # the oldest of each client only
    assert outbox.claim("w2", limit=10) == []  # taken (leased) or waiting behind a taken one
    outbox.delivered(first[0], "w1")
    assert [m.id for m in outbox.claim("w2", limit=10)] == [a[1]]


def test_a_dead_message_holds_its_clients_later_ones_until_retried(
    store: Store, httpserver: HTTPServer
) -> None:
    log: list[int] = []
    bad = _enqueue(store, "Patient/a", 0)
    later = _enqueue(store, "Patient/a", 1)
    other = _enqueue(store, "Patient/b", 2)
    httpserver.expect_request("/", method="POST").respond_with_handler(
        fake_transaction_peer(log, threading.Lock(), lambda mid: 400 if mid == bad and len(log) == 1 else 200)
    )
    worker = deliverer(store, {PEER: Peer(PEER, httpserver.url_for(""))}, settings=FAST)
    drain(worker)
    outbox = Outbox(store)
    dead = outbox.get(bad)
    assert dead is not None and dead.status == "dead" and dead.attempts == 1  # a 400 is not tried again
    assert dead.last_error and "HTTP 400" in dead.last_error
    assert outbox.get(later).status == "pending" and outbox.get(other).status == "delivered"  # type: ignore[union-attr]
    assert log == [bad, other]

    assert outbox.retry() == 1
    drain(worker)
    assert log == [bad, other, bad, later]  # in order, once each after the mend
    assert outbox.counts() == {"pending": 0, "delivered": 3, "dead": 0}


def test_a_peer_that_keeps_failing_parks_the_message_as_dead_after_max_attempts(
    store: Store, httpserver: HTTPServer
) -> None:
    log: list[int] = []
    mid = _enqueue(store, "Patient/a", 0)
    httpserver.expect_request("/", method="POST").respond_with_handler(
        fake_transaction_peer(log, threading.Lock(), lambda _: 503)
    )
    settings = WorkerSettings(poll_interval=0.01, max_attempts=3, backoff=0.001, backoff_max=0.002)
    peer = Peer(PEER, httpserver.url_for(""), retries=0)
    drain(deliverer(store, {PEER: peer}, settings=settings))
    m = Outbox(store).get(mid)
    assert m is not None and m.status == "dead" and m.attempts == 3 and "HTTP 503" in (m.last_error or "")
    assert log == [mid, mid, mid]


def test_a_withdrawal_of_what_the_peer_no_longer_has_is_delivered_not_dead(
    store: Store, httpserver: HTTPServer
) -> None:
    """A deletion the peer answers 404/410 has reached its goal; anything else it refuses still fails."""
    log: list[int] = []
    last = {"resourceType": "EpisodeOfCare", "id": "e1", "status": "active"}
    gone = {"entries": [{"type": "EpisodeOfCare", "id": "e1", "method": "DELETE", "resource": last}]}

    def work(s: Session) -> tuple[int, int]:
        a = enqueue(s, flow="test", kind="transaction", peer=PEER, client="Patient/a", payload=gone)
        b = enqueue(s, flow="test", kind="transaction", peer=PEER, client="Patient/b", payload=_entries(1))
        return a, b

    deletion, update = store.write(work)
    httpserver.expect_request("/", method="POST").respond_with_handler(
        fake_transaction_peer(log, threading.Lock(), lambda _: 404)
    )
    settings = WorkerSettings(poll_interval=0.01, max_attempts=2, backoff=0.001, backoff_max=0.002)
    drain(deliverer(store, {PEER: Peer(PEER, httpserver.url_for(""), retries=0)}, settings=settings))
    withdrawn, refused = Outbox(store).get(deletion), Outbox(store).get(update)
    assert withdrawn is not None and withdrawn.status == "delivered" and withdrawn.attempts == 1
    assert refused is not None and refused.status == "dead" and "HTTP 404" in (refused.last_error or "")


def test_two_workers_never_send_a_message_twice_and_keep_each_clients_order(store: Store) -> None:
    ids = {c: [_enqueue(store, f"Patient/{c}", n) for n in range(5)] for c in range(8)}
    log: list[int] = []
    server = HTTPServer(threaded=True)
    server.start()
    try:
        server.expect_request("/", method="POST").respond_with_handler(
            fake_transaction_peer(log, threading.Lock())
        )
        peers = {PEER: Peer(PEER, server.url_for(""))}
        stores = [Store(store.url), Store(store.url)]  # as two processes would: their own connections
        workers = [deliverer(s, peers, settings=FAST, worker_id=f"w{i}") for i, s in enumerate(stores)]
        threads = [threading.Thread(target=drain, args=(w,)) for w in workers]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        for s in stores:
            s.dispose()
    finally:
        server.clear()
        server.stop()
    everything = sorted(i for c in ids.values() for i in c)
    assert sorted(log) == everything  # each message sent exactly once
    for c, mine in ids.items():
        assert [m for m in log if m in mine] == mine, f"client {c} out of order"
    assert Outbox(store).counts() == {"pending": 0, "delivered": 40, "dead": 0}


def test_purge_removes_only_delivered_messages(store: Store) -> None:
    _enqueue(store, "Patient/a", 0)
    _enqueue(store, "Patient/b", 1)
    outbox = Outbox(store)
    m = outbox.claim("w", limit=1)[0]
    outbox.delivered(m, "w")
    assert outbox.purge_delivered(older_than=3600) == 0
    assert outbox.purge_delivered() == 1
    assert outbox.counts() == {"pending": 1, "delivered": 0, "dead": 0}


# --- fencing, consent at send time, circuits --------------------------------------------------------
def test_a_worker_whose_lease_passed_to_another_can_neither_send_nor_settle(store: Store) -> None:
    mid = _enqueue(store, "Patient/a", 0)
    outbox = Outbox(store)
    [first] = outbox.claim("w1", limit=1, lease=0.001)
    time.sleep(0.01)  # w1 stalls past its lease
    [second] = outbox.claim("w2", limit=1, lease=30)
    assert (first.id, first.generation, second.generation) == (mid, 1, 2)  # the fencing token moved on
    assert outbox.fence(first, "w1").held is False  # w1 stops before its next request
    assert outbox.extend(first, "w1", 30) is False  # its heartbeat cannot take the lease back
    assert outbox.finished(first, "w1") == LOST  # what it got back is not counted
    m = outbox.get(mid)
    assert m is not None and m.status == "pending" and m.locked_by == "w2" and m.attempts == 0
    assert outbox.fence(second, "w2").held
    assert outbox.delivered(second, "w2")
    m = outbox.get(mid)
    assert m is not None and m.status == "delivered" and m.attempts == 1  # a lease expiry is no try


def test_a_withdrawal_stops_what_a_worker_holds_and_the_deletion_waits_until_it_lets_go(store: Store) -> None:
    sending = _enqueue(store, "Patient/a", 1)
    outbox = Outbox(store)
    [held] = outbox.claim("w1", limit=1)
    gone = {"entries": [{"type": "Goal", "id": "g1", "method": "DELETE", "resource": {}}]}

    def withdrawn(s: Session) -> int:
        withdraw(s, "test", "Patient/a", "her consent ended")
        return enqueue(s, flow="test", kind="transaction", peer=PEER, client="Patient/a", payload=gone)

    deletion = store.write(withdrawn)
    m = outbox.get(sending)
    assert m is not None and m.status == "superseded" and m.locked_by == "w1"  # at once, though held
    assert outbox.fence(held, "w1").held is False  # no retry, no next request
    assert outbox.claim("w2", limit=5) == []  # the deletion waits: w1's request may still be on the wire
    store.write(lambda s: withdraw(s, "test", "Patient/a", "again"))  # a deletion is never withdrawn
    assert outbox.let_go(held, "w1") == SUPERSEDED
    assert [x.id for x in outbox.claim("w2", limit=5)] == [deletion]


def test_her_consent_is_checked_again_at_the_moment_of_sending(store: Store) -> None:
    """No consent of hers permits the OZKS (opt-in): a summary queued for her is not sent but
    withdrawn when a worker is about to send it; a deletion goes all the same."""
    summary = _enqueue(store, "Patient/a", 0)
    gone = {"entries": [{"type": "Goal", "id": "g9", "method": "DELETE", "resource": {}}]}
    deletion = store.write(
        lambda s: enqueue(s, flow="test", kind="transaction", peer=PEER, client="Patient/b", payload=gone)
    )
    outbox = Outbox(store)
    held = {m.id: m for m in outbox.claim("w", limit=5)}
    fence = outbox.fence(held[summary], "w", consent="ozks-summary")
    assert fence.held is False and fence.withdrawn == "not sent: her consent no longer permits ozks-summary"
    assert outbox.get(summary).status == "superseded"  # type: ignore[union-attr]
    assert outbox.fence(held[deletion], "w", consent="ozks-summary").held


def test_a_peer_circuit_opens_lets_one_probe_through_per_interval_and_closes_on_an_answer(
    store: Store,
) -> None:
    _enqueue(store, "Patient/a", 0)
    _enqueue(store, "Patient/b", 1)
    now = [time.time()]
    outbox = Outbox(store, clock=lambda: now[0])
    circuits = Circuits(store, CircuitSettings(failures=2, interval=30), clock=lambda: now[0])
    assert circuits.failed(PEER, "refused") == "closed"
    assert circuits.failed(PEER, "refused") == "open"  # two failed requests in a row
    assert outbox.take("w1", PEER, lease=10) is None  # open: nothing goes
    now[0] += 31
    probe = outbox.take("w1", PEER, lease=10)
    assert probe is not None and probe.probe and outbox.circuits()[PEER].state == "half-open"
    assert outbox.take("w2", PEER, lease=10) is None  # one probe at a time
    assert circuits.failed(PEER, "timeout", probe=True) == "open"  # no answer: another interval
    outbox.let_go(probe, "w1")
    assert outbox.take("w2", PEER, lease=10) is None
    now[0] += 31
    probe = outbox.take("w2", PEER, lease=10)
    assert probe is not None and probe.probe
    circuits.answered(PEER)  # the probe got an answer
    c = outbox.circuits()[PEER]
    assert (c.state, c.failures) == ("closed", 0)
    nxt = outbox.take("w3", PEER, lease=10)
    assert nxt is not None and not nxt.probe
