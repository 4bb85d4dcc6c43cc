"""The JGZ dossier peer (Medplum) down for a while and back; a worker process killed mid-delivery and
another started: every message arrives, once, in order, and the peer holds one copy of everything."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pytest_httpserver import HTTPServer

from adapter.api.app import create_app
from adapter.exchange.outbox import Outbox
from adapter.exchange.peers import load_peers
from adapter.store.engine import Store
from tests.conftest import bearer, composed
from tests.exchange.conftest import (
    ADAPTER_ID,
    BSN_SYSTEM,
    FAST,
    deliverer,
    drain,
    env_for,
    exchange_settings,
    free_port,
    peers_file,
    search,
)
from tests.exchange.helpers import Proxy, fresh, goal, intake, put

pytestmark = pytest.mark.node


def test_peer_down_for_a_while_then_back_every_message_arrives_once_in_order(
    store: Store, tmp_path: Path, medplum: str, referral: dict[str, Any]
) -> None:
    port = free_port()  # nothing listens here yet: connection refused
    settings = exchange_settings(
        tmp_path,
        peers_file(tmp_path, **{"jgz-dossier": {"base_url": f"http://127.0.0.1:{port}", "retries": 0}}),
    )
    client = TestClient(create_app(settings, store), headers=bearer(settings))
    clients = []
    for _ in range(3):
        body, bsn = fresh(referral)
        plan = intake(client, body)["CarePlan"]
        patient = plan["subject"]["reference"]
        for version in range(1, 4):  # three changes of one goal, each its own message
            put(composed(client), goal(patient, f"g-{bsn}", f"versie {version}"))
        clients.append((bsn, patient, plan["id"]))
    outbox = Outbox(store)
    assert outbox.counts()["pending"] == 12

    worker = deliverer(store, load_peers(settings.peers_file), settings=FAST)
    for _ in range(5):  # the peer is down: tries fail, nothing is lost, nothing is dead
        worker.run_once()
        time.sleep(0.03)
    _, pending = outbox.list(status="pending")
    assert len(pending) == 12 and any(m.attempts >= 2 for m in pending)
    assert all("ConnectionError" in (m.last_error or "") for m in pending if m.attempts)

    proxy = Proxy(medplum)
    server = HTTPServer(port=port)
    server.expect_request("").respond_with_handler(proxy)
    server.start()  # the peer is back
    try:
        drain(worker)
    finally:
        server.clear()
        server.stop()

    assert outbox.counts() == {"pending": 0, "delivered": 12, "dead": 0}
    sent = proxy.message_ids()
    assert sorted(sent) == sorted(set(sent)) and len(sent) == 12  # each message arrived once
    for bsn, patient, _plan_id in clients:
        mine = [m.id for m in outbox.list(client=patient)[1]]
        assert [m for m in sent if m in mine] == mine  # in the order they were made
        assert len(search(medplum, "Patient", identifier=f"{BSN_SYSTEM}|{bsn}")) == 1
        goals = search(medplum, "Goal", identifier=f"{ADAPTER_ID}|g-{bsn}")
        assert len(goals) == 1 and goals[0]["description"]["text"] == "versie 3"


def test_a_worker_killed_mid_delivery_and_another_started_loses_and_doubles_nothing(
    store: Store, tmp_path: Path, medplum: str, referral: dict[str, Any]
) -> None:
    proxy = Proxy(medplum, hold_first=True)  # applies the first delivery, then never answers it
    server = HTTPServer(threaded=True)
    server.expect_request("").respond_with_handler(proxy)
    server.start()
    try:
        settings = exchange_settings(
            tmp_path,
            peers_file(
                tmp_path, **{"jgz-dossier": {"base_url": server.url_for("").rstrip("/"), "retries": 0}}
            ),
            outbox_lease=1.0,  # a dead worker's message is free again after a second
        )
        client = TestClient(create_app(settings, store), headers=bearer(settings))
        body, bsn = fresh(referral)
        plan = intake(client, body)["CarePlan"]
        cmd = [sys.executable, "-m", "adapter.cli", "worker"]
        first = subprocess.Popen(cmd, env=env_for(store, settings), stderr=subprocess.DEVNULL)
        try:
            assert proxy.forwarded.wait(60), "the worker process did not deliver"
        finally:
            first.send_signal(signal.SIGKILL)  # mid-delivery: the peer has it, the outbox does not know
            first.wait(10)
        proxy.release.set()
        outbox = Outbox(store)
        message = outbox.list()[1][0]
        assert message.status == "pending" and message.locked_by is not None

        second = subprocess.Popen(cmd, env=env_for(store, settings), stderr=subprocess.DEVNULL)
        try:
            for _ in range(600):
                if outbox.counts()["delivered"] == 1:
                    break
                time.sleep(0.05)
        finally:
            second.send_signal(signal.SIGTERM)
            assert second.wait(20) == 0  # stops cleanly on SIGTERM
    finally:
        server.clear()
        server.stop()

    done = outbox.get(message.id)
    # the killed worker's lease ran out: noted, but not a failed try
    assert done is not None and done.status == "delivered" and done.attempts == 1
    assert "did not finish" in (done.last_error or "")
    assert proxy.message_ids() == [message.id, message.id]  # sent twice ...
    assert len(search(medplum, "Patient", identifier=f"{BSN_SYSTEM}|{bsn}")) == 1  # ... one copy
    assert len(search(medplum, "CarePlan", identifier=f"{ADAPTER_ID}|{plan['id']}")) == 1
