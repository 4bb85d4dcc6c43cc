"""`voorzorg-adapter worker | outbox list|retry|purge-delivered | peer-jwks` (listed in adapter/cli.py)."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

from adapter.composition import Adapter, compose
from adapter.config import Settings
from adapter.exchange.outbox import Outbox
from adapter.exchange.peers import load_peers
from adapter.security.tokens import IssuerKey

log = logging.getLogger("voorzorg.exchange")


def _worker_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--once", action="store_true", help="deliver what is due now, then stop")


def _run_worker(settings: Settings, args: argparse.Namespace) -> int:
    adapter = compose(settings)
    try:
        return _worker(adapter, once=args.once)
    finally:
        adapter.close()


def _outbox_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["list", "retry", "purge-delivered"])
    p.add_argument("ids", nargs="*", type=int, help="retry: only these ids (default: every dead one)")
    p.add_argument(
        "--status", choices=["pending", "delivered", "dead", "superseded"], help="list: only these"
    )
    p.add_argument("--peer", help="list: only messages to this peer")
    p.add_argument("--limit", type=int, default=100, help="list: at most this many (default 100)")
    p.add_argument(
        "--older-than", type=float, default=0.0, help="purge-delivered: seconds since delivery (default 0)"
    )


def _run_outbox(settings: Settings, args: argparse.Namespace) -> int:
    adapter = compose(settings)
    try:
        return _outbox(adapter.outbox, args, list(adapter.exchange.peers))
    finally:
        adapter.close()


def _jwks_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("peer", help="a peer name in VOORZORG_PEERS_FILE with auth smart-backend")


def _run_jwks(settings: Settings, args: argparse.Namespace) -> int:
    return _jwks(settings, args.peer)


#: (name, help, arguments, run) of the exchange's commands; adapter/cli.py lists them with the others.
COMMANDS: tuple[
    tuple[str, str, Callable[[argparse.ArgumentParser], None], Callable[[Settings, argparse.Namespace], int]],
    ...,
] = (
    ("worker", "deliver the outbox to the peers (a process of its own)", _worker_arguments, _run_worker),
    ("outbox", "watch and mend the outbox of messages to peers", _outbox_arguments, _run_outbox),
    ("peer-jwks", "print the public JWKS a peer registers for our assertions", _jwks_arguments, _run_jwks),
)


def _worker(adapter: Adapter, once: bool) -> int:
    worker = adapter.worker()
    notifier = adapter.exchange.notifier(adapter.store)  # the Subscriptions' endpoints
    if not worker.peers:
        log.warning("no peers configured (VOORZORG_PEERS_FILE): only Subscriptions are notified")
    if once:
        while worker.run_once() + notifier.run_once():
            pass
        return 0
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    beside = threading.Thread(target=notifier.run, args=(stop,), name="voorzorg-subscription-notifier")
    beside.start()
    worker.run(stop)  # a message being sent when stopped is finished first; SIGKILL leaves its lease
    beside.join()
    return 0


def _outbox(outbox: Outbox, args: argparse.Namespace, peers: list[str] | None = None) -> int:
    if args.action == "list":
        total, messages = outbox.list(status=args.status, peer=args.peer, limit=args.limit)
        counts = outbox.counts()
        counts["held behind a dead one"] = outbox.held()
        print(", ".join(f"{k}: {v}" for k, v in counts.items()) + f"  (listed {len(messages)} of {total})")
        for line in _circuits(outbox, peers or []):
            print(line)
        for m in messages:
            s = m.summary()
            line = f"{m.id:>7}  {m.status:<9} {m.peer:<16} {m.client:<48} tries={m.attempts}"
            if m.status == "pending" and s["nextAttempt"]:
                line += f" next={s['nextAttempt']}"
            if m.last_error:
                line += f"\n         last error: {m.last_error.splitlines()[0][:200]}"
            print(line)
        return 0
    if args.action == "retry":
        n = outbox.retry(args.ids or None)
        print(f"{n} dead message(s) back in the queue")
        return 0
    n = outbox.purge_delivered(args.older_than)
    print(f"{n} delivered message(s) removed")
    return 0


def _circuits(outbox: Outbox, peers: list[str]) -> list[str]:
    """A line per peer: its circuit breaker (closed: delivering; open: waiting for the next probe)."""
    circuits = outbox.circuits()
    lines = []
    closed: dict[str, Any] = {"state": "closed", "failures": 0}
    for name in dict.fromkeys([*peers, *circuits]):
        c = circuits[name].summary() if name in circuits else closed
        line = f"peer {name}: {c['state']}"
        if c["failures"]:
            line += f", {c['failures']} failed request(s) in a row"
        if c.get("nextProbe"):
            line += f", next probe {c['nextProbe']}"
        if c.get("probeBy"):
            line += f", probe by {c['probeBy']}"
        if c.get("lastError") and c["state"] != "closed":
            line += f"\n         last error: {c['lastError'].splitlines()[0][:200]}"
        lines.append(line)
    return lines


def _jwks(settings: Settings, name: str) -> int:
    peer = load_peers(settings.peers_file).get(name)
    if peer is None or peer.auth != "smart-backend" or peer.key_file is None:
        print(f"no peer {name!r} with auth smart-backend and a key_file", file=sys.stderr)
        return 2
    print(json.dumps(IssuerKey(peer.key_file).jwks(), indent=2))
    return 0
