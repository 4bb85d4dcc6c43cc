"""A stale delivery never overwrites newer data, and her consent is checked at the moment of sending —
against the Medplum peer behind a fault proxy (refuse, 503, hang, delay), with worker processes stalled
(SIGSTOP/SIGCONT) and killed, on SQLite and PostgreSQL. Every scenario is judged at the peer: exactly one
copy, the latest version, a history that only moves forward, and nothing after a withdrawal but the
DELETE."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import requests
from fastapi.testclient import TestClient

from adapter.api.app import create_app
from adapter.cli import main
from adapter.config import Settings
from adapter.exchange.outbox import Outbox, enqueue
from adapter.exchange.peers import load_peers
from adapter.exchange.worker import Worker, WorkerSettings
from adapter.security.audit import AuditLog
from adapter.store.engine import Store
from adapter.store.session import Session
from adapter.workflows.sharing import summary_id
from tests.api.test_sharing import _consent
from tests.conftest import FHIR_JSON_HEADERS, bearer, composed
from tests.exchange.conftest import (
    ADAPTER_ID,
    BSN_SYSTEM,
    FAST,
    deliverer,
    drain,
    env_for,
    exchange_settings,
    peers_file,
    search,
)
from tests.exchange.faults import FaultProxy
from tests.exchange.helpers import fresh, goal, intake, put

pytestmark = pytest.mark.node

Faults = Callable[[], FaultProxy]


# --- helpers ----------------------------------------------------------------------------------------
def _app(store: Store, settings: Settings) -> TestClient:
    return TestClient(create_app(settings, store), headers=bearer(settings))


def _worker(client: TestClient, settings: WorkerSettings, **kw: Any) -> Worker:
    """An in-process worker as the adapter makes it (its flows' consents checked before every send)."""
    w: Worker = client.app.state.ctx.adapter.worker(settings=settings, **kw)  # type: ignore[attr-defined]
    return w


def _process(store: Store, settings: Settings, tmp_path: Path) -> subprocess.Popen[bytes]:
    """`voorzorg-adapter worker` in a process of its own, on this test's store and peers."""
    log = (tmp_path / f"worker-{uuid.uuid4().hex[:6]}.log").open("wb")
    cmd = [sys.executable, "-m", "adapter.cli", "worker"]
    return subprocess.Popen(cmd, env=env_for(store, settings), stdout=log, stderr=log)


def _clients(client: TestClient, referral: dict[str, Any], n: int) -> list[tuple[str, str]]:
    """`n` accepted referrals: (her BSN, Patient reference) of each."""
    out = []
    for _ in range(n):
        body, bsn = fresh(referral)
        out.append((bsn, intake(client, body)["CarePlan"]["subject"]["reference"]))
    return out


def _goals(client: TestClient, patients: list[str], versions: int) -> dict[str, str]:
    """A theme Goal per client, changed `versions` times (each change its own message): Goal id per client."""
    goals = {p: f"g-{uuid.uuid4().hex[:12]}" for p in patients}
    for v in range(1, versions + 1):
        for p, gid in goals.items():
            put(composed(client), goal(p, gid, f"versie {v}"))
    return goals


def _history(base: str, res_type: str, ident: str, system: str = ADAPTER_ID) -> list[dict[str, Any]]:
    """The one copy at the peer, every version of it, oldest first."""
    found = search(base, res_type, identifier=f"{system}|{ident}")
    assert len(found) == 1, f"{len(found)} copies of {res_type} {ident} at the peer"
    r = requests.get(f"{base}/{res_type}/{found[0]['id']}/_history", timeout=10)
    r.raise_for_status()
    return [e["resource"] for e in reversed(r.json()["entry"])]


def _moves_forward(base: str, gid: str, latest: int) -> list[str]:
    texts = [g["description"]["text"] for g in _history(base, "Goal", gid)]
    assert texts[-1] == f"versie {latest}", f"the peer holds {texts[-1]!r}, not the latest: {texts}"
    assert texts == sorted(texts), f"the history at the peer went back: {texts}"
    return texts


def _until(done: Callable[[], bool], seconds: float, what: str) -> None:
    end = time.monotonic() + seconds
    while not done():
        if time.monotonic() > end:
            pytest.fail(f"not within {seconds} s: {what}")
        time.sleep(0.02)


def _pending(store: Store) -> int:
    return Outbox(store).counts()["pending"]


def _consents(client: TestClient, patient: str) -> dict[str, Any]:
    r = client.post("/Consent", content=json.dumps(_consent(patient)), headers=FHIR_JSON_HEADERS)
    assert r.status_code in (200, 201), r.text
    body: dict[str, Any] = r.json()
    return body


def _withdraws(client: TestClient, consent: dict[str, Any]) -> None:
    r = client.put(
        f"/Consent/{consent['id']}",
        content=json.dumps({**consent, "status": "inactive"}),
        headers={**FHIR_JSON_HEADERS, "If-Match": f'W/"{consent["meta"]["versionId"]}"'},
    )
    assert r.status_code == 200, r.text


def _transfers(store: Store, patient: str) -> list[dict[str, Any]]:
    _, events = AuditLog(store).search(patient, 200, 0)
    return [e for e in events if e["type"]["code"] == "110106"]


# --- fencing ----------------------------------------------------------------------------------------
def test_a_worker_stalled_past_its_lease_never_rolls_the_peer_back(
    store: Store, tmp_path: Path, faults: Faults, medplum: str, referral: dict[str, Any]
) -> None:
    proxy = faults()
    dossier = {"jgz-dossier": {"base_url": proxy.url, "retries": 0}}
    settings = exchange_settings(tmp_path, peers_file(tmp_path, **dossier), outbox_lease=1.0)
    client = _app(store, settings)
    patients = [p for _, p in _clients(client, referral, 3)]
    b = deliverer(store, load_peers(settings.peers_file), settings=replace(FAST, lease=1.0), worker_id="b")
    drain(b)  # the three dossiers are at the peer
    goals = _goals(client, patients, 3)

    proxy.hold(1)  # worker A's first request stays on the wire until released
    a = _process(store, settings, tmp_path)
    try:
        assert proxy.held.wait(60), "worker A sent nothing"
        a.send_signal(signal.SIGSTOP)  # A stalls, longer than its lease
        drain(b)  # B takes over what A held once the lease ran out, and delivers everything
        proxy.release.set()  # A's stale request reaches the peer only now
        a.send_signal(signal.SIGCONT)  # and A wakes up, its lease long gone
        end = time.monotonic() + 5
        while time.monotonic() < end and not _stale(store, patients):
            time.sleep(0.05)  # until A has reconciled its try (or has done its worst)
    finally:
        a.send_signal(signal.SIGCONT)
        a.terminate()
        a.wait(20)

    for gid in goals.values():
        _moves_forward(medplum, gid, latest=3)  # one copy, the latest, history 1, 2, 3
    assert Outbox(store).counts() == {"pending": 0, "delivered": 12, "dead": 0}
    stale = _stale(store, patients)
    assert stale and all(e["outcome"] == "4" for e in stale)  # A's try is on record, not counted


def _stale(store: Store, patients: list[str]) -> list[dict[str, Any]]:
    """Transfer records of tries whose lease had passed to another worker."""
    return [e for p in patients for e in _transfers(store, p) if "passed to another" in e["outcomeDesc"]]


def test_a_lease_shorter_than_the_work_never_makes_a_second_send(
    store: Store, tmp_path: Path, faults: Faults, medplum: str, referral: dict[str, Any]
) -> None:
    proxy = faults()
    dossier = {"jgz-dossier": {"base_url": proxy.url, "retries": 0}}
    settings = exchange_settings(tmp_path, peers_file(tmp_path, **dossier))
    client = _app(store, settings)
    peers = load_peers(settings.peers_file)
    patients = [p for _, p in _clients(client, referral, 3)]
    drain(deliverer(store, peers, settings=FAST))
    goals = _goals(client, patients, 2)
    sent_before = len(proxy.seen)

    proxy.mode, proxy.delay = "delay", 0.8  # every request takes longer than a lease
    slow = replace(FAST, lease=0.5)
    stores = [Store(store.url), Store(store.url)]  # two workers, as two processes would be
    workers = [deliverer(s, peers, settings=slow, worker_id=f"w{i}") for i, s in enumerate(stores)]
    for w in workers:
        w.start()
    try:
        _until(lambda: _pending(store) == 0, 60, "six messages delivered")
    finally:
        for w in workers:
            w.stop()
        for s in stores:
            s.dispose()

    sent = [s.message_id for s in proxy.forwarded_since(sent_before)]
    assert len(sent) == 6 and len(set(sent)) == 6  # each message once: no second send
    for m in Outbox(store).list(limit=100)[1][-6:]:
        assert m.status == "delivered" and m.attempts == 1  # a lease never ran out, none counted
    for gid in goals.values():
        assert _moves_forward(medplum, gid, latest=2) == ["versie 1", "versie 2"]


def test_a_killed_worker_holds_up_only_the_message_in_hand(
    store: Store, tmp_path: Path, faults: Faults, medplum: str, referral: dict[str, Any]
) -> None:
    proxy = faults()
    dossier = {"jgz-dossier": {"base_url": proxy.url, "retries": 0}}
    settings = exchange_settings(tmp_path, peers_file(tmp_path, **dossier), outbox_lease=4.0)
    client = _app(store, settings)
    peers = load_peers(settings.peers_file)
    patients = [p for _, p in _clients(client, referral, 4)]
    drain(deliverer(store, peers, settings=FAST))
    goals = _goals(client, patients, 1)

    proxy.hold(1, applied=True)  # the peer applies A's first message; A never hears so
    a = _process(store, settings, tmp_path)
    try:
        assert proxy.held.wait(60), "worker A sent nothing"
    finally:
        a.send_signal(signal.SIGKILL)
        a.wait(10)
    killed = time.monotonic()
    in_hand = proxy.seen[-1].message_id
    b = deliverer(store, peers, settings=replace(FAST, lease=4.0), worker_id="b")
    b.start()
    try:
        _until(lambda: _pending(store) == 1, 30, "the other clients' messages delivered")
        others = time.monotonic() - killed
        _until(lambda: _pending(store) == 0, 30, "the message in hand delivered after its lease")
    finally:
        b.stop()

    assert others < 2.5, f"the other clients waited {others:.1f} s for a dead worker's lease of 4 s"
    done = Outbox(store).get(in_hand or 0)
    assert done is not None and done.status == "delivered" and done.attempts == 1  # expiry: not a try
    assert "did not finish (lease expired)" in (done.last_error or "")
    for gid in goals.values():
        assert _moves_forward(medplum, gid, latest=1) == ["versie 1"]  # sent twice, applied once


# --- consent at the moment of sending ---------------------------------------------------------------
def _ozks(store: Store, tmp_path: Path, proxy: FaultProxy) -> tuple[TestClient, Worker]:
    ozks = {"ozks": {"base_url": proxy.url, "timeout": 1.0, "retries": 3}}
    settings = exchange_settings(tmp_path, peers_file(tmp_path, **ozks))
    client = _app(store, settings)
    return client, _worker(client, FAST)


def _nothing_but_deletions(proxy: FaultProxy, since: int, patients: list[str], medplum: str) -> None:
    after = proxy.forwarded_since(since)
    assert after, "the deletion never reached the OZKS"
    assert all(s.methods == ["DELETE"] for s in after), [s.methods for s in after]
    assert sorted(s.message_id or 0 for s in after) == sorted({s.message_id or 0 for s in after})
    for p in patients:
        assert search(medplum, "EpisodeOfCare", identifier=f"{ADAPTER_ID}|{summary_id(p)}") == []


def test_a_withdrawal_while_the_ozks_hangs_lets_nothing_through_but_the_deletion(
    store: Store, tmp_path: Path, faults: Faults, medplum: str, referral: dict[str, Any]
) -> None:
    proxy = faults()
    client, worker = _ozks(store, tmp_path, proxy)
    [(_, patient)] = _clients(client, referral, 1)
    proxy.mode = "hang"
    consent = _consents(client, patient)
    worker.start()
    try:
        _until(lambda: any(s.outcome == "hung" for s in proxy.seen), 30, "the summary on the wire")
        since = len(proxy.seen)
        _withdraws(client, consent)  # while the worker is in its try, its request hanging
        proxy.mode = "pass"  # the OZKS is back: its retry would get through now
        _until(lambda: _pending(store) == 0, 30, "the deletion delivered")
    finally:
        worker.stop()

    _nothing_but_deletions(proxy, since, [patient], medplum)
    assert proxy.forwarded_since(0) == proxy.forwarded_since(since)  # the summary never reached it
    put_, delete = Outbox(store).list(client=patient)[1]
    assert put_.status == "superseded" and "consent no longer permits" in (put_.last_error or "")
    assert delete.status == "delivered" and Outbox(store).counts()["dead"] == 0


def test_a_withdrawal_while_the_ozks_refuses_stops_the_try_and_the_queued_message(
    store: Store, tmp_path: Path, faults: Faults, medplum: str, referral: dict[str, Any]
) -> None:
    proxy = faults()
    client, worker = _ozks(store, tmp_path, proxy)
    patients = [p for _, p in _clients(client, referral, 2)]
    proxy.mode = "refuse"
    consents = [_consents(client, p) for p in patients]  # two summaries: one in its try, one queued
    worker.start()
    try:
        _until(lambda: proxy.refused > 0, 30, "the worker trying the first summary")
        for c in consents:
            _withdraws(client, c)
        proxy.mode = "pass"
        _until(lambda: _pending(store) == 0, 30, "the deletions delivered")
    finally:
        worker.stop()

    _nothing_but_deletions(proxy, 0, patients, medplum)  # all it ever got: the two deletions
    assert len(proxy.forwarded_since(0)) == 2
    assert Outbox(store).counts() == {"pending": 0, "delivered": 2, "dead": 0, "superseded": 2}


# --- a circuit breaker per peer ---------------------------------------------------------------------
def test_one_peer_hanging_costs_a_probe_per_interval_and_the_other_peer_goes_on(
    store: Store,
    tmp_path: Path,
    fresh_medplum: str,
    referral: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # a peer of its own: after the hang, each delivery must fit in the dossier peer's 0.3 s timeout, which
    # the session's Medplum, holding every earlier test's resources, no longer answers within
    medplum = fresh_medplum
    down, up = FaultProxy(medplum).start(), FaultProxy(medplum).start()
    peers = {
        "jgz-dossier": {"base_url": down.url, "timeout": 0.3, "retries": 3},
        "ozks": {"base_url": up.url, "retries": 0},
    }
    settings = exchange_settings(
        tmp_path, peers_file(tmp_path, **peers), outbox_circuit_failures=3, outbox_circuit_interval=1.5
    )
    client = _app(store, settings)
    down.mode = "hang"
    clients = _clients(client, referral, 3)  # three dossiers for the hanging peer ...
    for _, p in clients:
        _consents(client, p)  # ... and three summaries for the other
    worker = _worker(client, replace(FAST, circuit_failures=3, circuit_interval=1.5))
    started = time.monotonic()
    worker.start()
    try:
        _until(lambda: Outbox(store).counts()["delivered"] == 3, 30, "the summaries delivered")
        summaries_took = time.monotonic() - started
        time.sleep(max(0.0, 4.5 - summaries_took))
        tried = len(down.seen)
        for k, v in env_for(store, settings).items():
            if k.startswith("VOORZORG_"):
                monkeypatch.setenv(k, v)
        assert main(["outbox", "list"]) == 0
        listed = capsys.readouterr().out
        down.mode = "pass"  # back: the next probe closes the circuit
        _until(lambda: _pending(store) == 0, 30, "the dossiers delivered")
    finally:
        worker.stop()
        down.stop()
        up.stop()

    assert summaries_took < 2.5, f"the OZKS waited {summaries_took:.1f} s for the hanging dossier"
    assert tried <= 3 + 3, f"{tried} requests to the hanging peer in 4.5 s"  # 3 failures, then probes
    assert "peer ozks: closed" in listed and "peer jgz-dossier: open" in listed.replace("half-open", "open")
    assert {c.state for c in Outbox(store).circuits().values()} == {"closed"}
    for bsn, p in clients:
        _history(medplum, "Patient", bsn, BSN_SYSTEM)  # one copy each
        assert len(search(medplum, "EpisodeOfCare", identifier=f"{ADAPTER_ID}|{summary_id(p)}")) == 1


def _enqueue(store: Store, client: str, payload: dict[str, Any]) -> int:
    def work(s: Session) -> int:
        return enqueue(s, flow="t", kind="transaction", peer="jgz-dossier", client=client, payload=payload)

    return store.write(work)


def test_a_peer_answering_503_is_probed_once_per_interval_and_gets_everything_once_when_back(
    store: Store, tmp_path: Path, faults: Faults, medplum: str
) -> None:
    proxy = faults()
    proxy.mode = "503"
    peer = {"jgz-dossier": {"base_url": proxy.url, "retries": 1}}
    settings = exchange_settings(tmp_path, peers_file(tmp_path, **peer))
    goals = {f"Patient/p{i}": f"g-{uuid.uuid4().hex[:12]}" for i in range(4)}
    for patient, gid in goals.items():  # one message per client, straight into the queue
        entry = {"type": "Goal", "id": gid, "method": "PUT", "resource": goal(patient, gid, "versie 1")}
        _enqueue(store, patient, {"entries": [entry], "match": {"default": ADAPTER_ID}})
    fast = replace(FAST, circuit_failures=3, circuit_interval=1.0)
    worker = deliverer(store, load_peers(settings.peers_file), settings=fast)
    worker.start()
    try:
        time.sleep(2.0)  # down: 3 failed requests open the circuit, then a probe a second
        tried = len(proxy.seen)
        proxy.mode = "pass"
        _until(lambda: _pending(store) == 0, 30, "everything delivered once the peer is back")
    finally:
        worker.stop()
    assert 3 <= tried <= 3 + 3, f"{tried} requests to a peer answering 503 for 2 s"
    assert all(m.status == "delivered" for m in Outbox(store).list()[1])
    for gid in goals.values():
        assert _moves_forward(medplum, gid, latest=1) == ["versie 1"]
