"""Fixtures of the exchange tests: a real FHIR server as the JGZ dossier (Medplum's router on Node),
fault proxies in front of it, peers files, settings with short backoffs, and a helper that runs a worker
until the outbox is empty."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from adapter.config import Settings
from adapter.exchange.outbox import Outbox
from adapter.exchange.peers import Peer
from adapter.exchange.runtime import DELIVERIES
from adapter.exchange.worker import Worker, WorkerSettings
from adapter.store.engine import Store
from tests.exchange.faults import FaultProxy

PEER_DIR = Path(__file__).parent / "peer"
BSN_SYSTEM = "http://fhir.nl/fhir/NamingSystem/bsn"
ADAPTER_ID = "https://fhir.voorzorg.nl/NamingSystem/adapter-resource-id"

#: Backoffs of milliseconds: the tests wait for nothing real.
FAST = WorkerSettings(
    poll_interval=0.01,
    max_attempts=50,
    backoff=0.005,
    backoff_max=0.02,
    lease=30.0,
    circuit_interval=0.05,
)


def _install_peer() -> str | None:
    """npm-install the Medplum peer once (node_modules is kept between runs); None, or why not."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        return "Node.js and npm are needed for the Medplum peer (tests/exchange/peer); not found on PATH"
    marker = PEER_DIR / "node_modules" / ".installed-lock"
    lock = (PEER_DIR / "package-lock.json").read_text(encoding="utf-8")
    # the suite runs in parallel processes (pytest-xdist): one `npm ci` at a time, the others wait for it
    with (PEER_DIR / ".install.lock").open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        if marker.exists() and marker.read_text(encoding="utf-8") == lock:
            return None
        cmd = ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"]
        done = subprocess.run(cmd, cwd=PEER_DIR, capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            pytest.fail(f"npm ci in {PEER_DIR} failed:\n{done.stderr[-2000:]}")
        marker.write_text(lock, encoding="utf-8")
    return None


@pytest.fixture(scope="session")
def medplum() -> Iterator[str]:
    """Base URL of a real FHIR R4 server (Medplum's FHIR router, in memory) for this test session."""
    yield from _medplum_server()


@pytest.fixture
def fresh_medplum() -> Iterator[str]:
    """A Medplum peer of this test's own, empty: for a test whose peer must answer as fast as a new server
    (the session's peer holds every earlier test's resources, and its in-memory searches slow down)."""
    yield from _medplum_server()


def _medplum_server() -> Iterator[str]:
    why = _install_peer()
    if why:
        pytest.skip(why)
    proc = subprocess.Popen(
        ["node", "server.js", "0"], cwd=PEER_DIR, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("listening "):
        proc.kill()
        pytest.fail(f"the Medplum peer did not start: {line}{proc.stderr.read() if proc.stderr else ''}")
    try:
        yield f"http://127.0.0.1:{int(line.split()[1])}"
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def faults(medplum: str) -> Iterator[Callable[[], FaultProxy]]:
    """Fault proxies in front of the Medplum peer (as many as a test asks for: one per peer), each
    forwarding, refusing, answering 503, hanging or delaying as the test switches it; stopped after."""
    made: list[FaultProxy] = []

    def make() -> FaultProxy:
        made.append(FaultProxy(medplum).start())
        return made[-1]

    yield make
    for proxy in made:
        proxy.stop()


def search(base: str, res_type: str, **params: str) -> list[dict[str, Any]]:
    """Every match of a search at a peer (one page is plenty here)."""
    r = requests.get(f"{base}/{res_type}", params={**params, "_count": "1000"}, timeout=10)
    r.raise_for_status()
    return [e["resource"] for e in r.json().get("entry", [])]


def peers_file(tmp_path: Path, **peers: dict[str, Any]) -> Path:
    path = tmp_path / "peers.yaml"
    path.write_text(yaml.safe_dump({"peers": peers}), encoding="utf-8")
    return path


def exchange_settings(tmp_path: Path, peers: Path | None, **kw: Any) -> Settings:
    return Settings(
        data_dir=tmp_path,
        base_url="http://testserver",
        peers_file=peers,
        worker=kw.pop("worker", "off"),
        outbox_poll_interval=0.01,
        outbox_max_attempts=kw.pop("outbox_max_attempts", 50),
        outbox_backoff=0.005,
        outbox_backoff_max=0.02,
        outbox_lease=kw.pop("outbox_lease", 30.0),
        outbox_circuit_interval=kw.pop("outbox_circuit_interval", 0.05),
        **kw,
    )


def deliverer(store: Store, peers: dict[str, Peer], **kwargs: Any) -> Worker:
    """A delivery worker with the adapter's declared deliveries (as `Adapter.worker` makes it)."""
    return Worker(store, peers, DELIVERIES, **kwargs)


def drain(worker: Worker, rounds: int = 2000) -> None:
    """Run the worker until nothing is pending (bounded: fails rather than hangs)."""
    outbox = Outbox(worker.store)
    for _ in range(rounds):
        if worker.run_once() == 0:
            if outbox.counts()["pending"] == outbox.held():  # all sent, or waiting behind a dead one
                return
            time.sleep(0.005)  # a backoff is running out
    pytest.fail(f"the outbox did not drain: {outbox.counts()}")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def env_for(store: Store, settings: Settings) -> dict[str, str]:
    """The environment a `voorzorg-adapter` subprocess needs to share this test's store and peers."""
    env = dict(os.environ)
    env.update(
        {
            "VOORZORG_DATA_DIR": str(settings.data_dir),
            "VOORZORG_DATABASE_URL": store.url,
            "VOORZORG_PEERS_FILE": str(settings.peers_file or ""),
            "VOORZORG_OUTBOX_POLL_INTERVAL": "0.02",
            "VOORZORG_OUTBOX_BACKOFF": "0.01",
            "VOORZORG_OUTBOX_BACKOFF_MAX": "0.05",
            "VOORZORG_OUTBOX_LEASE": str(settings.outbox_lease),
            "VOORZORG_OUTBOX_CIRCUIT_FAILURES": str(settings.outbox_circuit_failures),
            "VOORZORG_OUTBOX_CIRCUIT_INTERVAL": str(settings.outbox_circuit_interval),
        }
    )
    return env


def as_json(body: Any) -> str:
    return json.dumps(body, separators=(",", ":"))
