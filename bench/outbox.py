"""Outbox throughput: messages per second the delivery worker gets to a local peer.

Each backend gets a fresh store with the JGZ dossier flow routed to a peer on 127.0.0.1; `n` distinct
referrals are taken in (in-process intake, not timed), which queues one message per client (Patient +
CarePlan of 40-60 activities, as the transaction Bundle the peer gets). Then one worker, and two workers
(threads with their own connections, as two processes would have), drain the queue while the clock runs:
claim, build the Bundle, POST it, mark delivered with the peer's versions, and the audit record of the
transfer. Two peers: a stub (a Python HTTP server answering every transaction at once, in a process of its
own: the adapter's own cost) and, where Node.js is installed, the Medplum FHIR server of the exchange
tests (tests/exchange/peer: a real server doing conditional updates).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from adapter.config import Settings
from adapter.domain.facts import Deployment
from adapter.exchange.outbox import Outbox
from adapter.exchange.peers import Peer
from adapter.exchange.routing import default_flows
from adapter.exchange.runtime import Exchange
from adapter.exchange.worker import Worker, WorkerSettings
from adapter.store.engine import Store
from adapter.workflows.effects import every_change
from adapter.workflows.intake import intake
from bench.referrals import bsns, example, variant
from bench.server import bench_store

PEER_DIR = Path(__file__).resolve().parent.parent / "tests" / "exchange" / "peer"
FLOW_PEER = "jgz-dossier"
HEADERS = ["backend", "peer", "workers", "messages", "delivered", "seconds", "per s"]


class _Stub(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        bundle = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        entries = [
            {
                "response": {
                    "status": "201" if e["request"]["method"] == "POST" else "200",  # 201: made
                    "location": f"{e['resource']['resourceType']}/s{i}/_history/1",
                }
            }
            for i, e in enumerate(bundle.get("entry", []))
            if "resource" in e
        ]
        body = json.dumps(
            {"resourceType": "Bundle", "type": "transaction-response", "entry": entries}
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/fhir+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        return None


def serve_stub() -> None:
    """The stub peer (run in a process of its own): prints `listening PORT`, serves until killed."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Stub)
    print(f"listening {server.server_address[1]}", flush=True)
    server.serve_forever()


@contextmanager
def _peer(kind: str) -> Iterator[str | None]:
    """Base URL of a peer process of this kind; None when it cannot run here."""
    if kind == "stub":
        cmd = [sys.executable, "-c", "from bench.outbox import serve_stub; serve_stub()"]
        cwd = Path(__file__).resolve().parent.parent
    else:
        if shutil.which("node") is None or not (PEER_DIR / "node_modules").exists():
            yield None
            return
        cmd, cwd = ["node", "server.js", "0"], PEER_DIR
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        yield f"http://127.0.0.1:{int(line.split()[1])}" if line.startswith("listening") else None
    finally:
        proc.terminate()
        proc.wait(10)


def _store(backend: str) -> contextlib.AbstractContextManager[Store]:
    return bench_store(backend, "outbox")


def _fill(store: Store, exchange: Exchange, n: int, seed: int) -> None:
    """n accepted referrals, taken in on a store with the adapter's effects (so each queues its message)."""
    composed = store.with_effects(every_change(exchange.settings, exchange))
    base, gen = example(), bsns(seed)
    deployment = Deployment(frozenset({"voorzorg-2", "late-start"}))
    for i in range(n):
        intake(composed, variant(base, next(gen), f"OUTBOX-{seed}-{i:06d}"), deployment)


def _drain(workers: list[Worker], outbox: Outbox) -> None:
    def loop(w: Worker) -> None:
        while True:
            if w.run_once() == 0 and outbox.counts()["pending"] == 0:
                return

    threads = [threading.Thread(target=loop, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def run(backend: str, label: str, n: int, seed: int = 7) -> list[list[object]]:
    """Rows of the outbox table for one backend: each peer kind, one and two workers."""
    rows: list[list[object]] = []
    settings = WorkerSettings(poll_interval=0.01, max_attempts=3, backoff=0.01, backoff_max=0.1, lease=60)
    for kind in ("stub", "medplum"):
        for count in (1, 2):
            with _peer(kind) as base:  # a fresh peer for each run: Medplum's memory grows with its data
                if base is None:
                    rows.append(
                        [label, kind, count, n, "skipped (no Node.js, or no peer/node_modules)", "—", "—"]
                    )
                    continue
                exchange = Exchange(
                    Settings(), {FLOW_PEER: Peer(FLOW_PEER, base, retries=1)}, default_flows()
                )
                with _store(backend) as store:
                    _fill(store, exchange, n, seed + count)
                    stores = [Store(store.url) for _ in range(count)]
                    workers = [
                        exchange.worker(s, settings=settings, worker_id=f"bench-{i}")
                        for i, s in enumerate(stores)
                    ]
                    outbox = Outbox(store)
                    started = time.perf_counter()
                    _drain(workers, outbox)
                    took = time.perf_counter() - started
                    delivered = outbox.counts()["delivered"]
                    for s in stores:
                        s.dispose()
                rows.append([label, kind, count, n, delivered, took, delivered / took if took else 0.0])
    return rows


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.outbox [N]`: this table alone (SQLite, and PostgreSQL where it answers)."""
    from bench.report import table
    from bench.server import postgres_unreachable

    n = int((argv if argv is not None else sys.argv[1:] or ["200"])[0])
    rows = run("sqlite", "SQLite", n)
    if not postgres_unreachable():
        rows += run("postgres", "PostgreSQL", n)
    print(table(HEADERS, rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
