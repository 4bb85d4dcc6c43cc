"""The delivery worker: takes due outbox messages one at a time, sends each, settles it.

    worker = adapter.exchange.worker(adapter.store)  # built by the composition root (adapter.composition)
    worker.run_once()                                 # deliver what is due now, peer by peer; how many tried
    worker.start(); ...; worker.stop()                # background threads (the API's lifespan does this)
    worker.run(stop_event)                            # the loop `voorzorg-adapter worker` runs

What keeps a delivery honest:
- one lease per message, taken right before it is sent (`Outbox.take`) and kept alive by a heartbeat
  every lease/3 seconds while this worker lives: a killed or stalled worker holds up only the message in
  hand, for one lease at most, and a slow peer never makes another worker send it again;
- a fencing token: every claim is a new lease generation. Before every request of a try — the first,
  each retry within it, a re-read after a 412 — the worker's watch (`_Guard`) checks that the lease is
  still its own and the message still to be sent, and that her consent still permits the flow
  (`Outbox.fence`); if not, it stops there. What it sent before it lost the lease is fenced at the peer
  by If-Match and conditional create (`adapter.exchange.delivery`);
- settling is fenced too: a try whose lease is gone is reconciled — a message superseded while on the
  wire is let go (the deletion that superseded it follows), one taken over by another worker is left to
  it — and recorded, never counted as delivered; a lease that ran out is not a failed try;
- a circuit breaker per peer (`adapter.exchange.circuit`), and one loop per peer in `run`: a peer that is
  down or hangs costs one probe per interval and holds up no other peer's flow.

Every try that sent something is written to the NEN 7513 audit log as a transfer (AuditEvent type DCM
110106 "Export", subtype `transfer-out`: the client, the peer as destination, the resources sent, the
outcome) in the same transaction that settles the message.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import requests

from adapter.background import Background, repeat
from adapter.config import Settings
from adapter.exchange.circuit import CLOSED, Circuits, CircuitSettings
from adapter.exchange.client import FhirClient, PeerError, RetryPolicy
from adapter.exchange.delivery import Delivered, Deliveries, DeliveryContext, delivery_for
from adapter.exchange.outbox import DEAD, DELIVERED, LOST, PENDING, SUPERSEDED, Message, Outbox, Record
from adapter.exchange.peers import Peer, as_transfer
from adapter.security.audit import Access, append_event, build_event
from adapter.security.principal import Principal
from adapter.store.engine import Store
from adapter.store.session import Session

log = logging.getLogger("voorzorg.exchange")


@dataclass(frozen=True)
class WorkerSettings:
    poll_interval: float = 1.0
    max_attempts: int = 10
    backoff: float = 2.0
    backoff_max: float = 600.0
    lease: float = 30.0
    batch: int = 20  # messages one peer's loop delivers before it looks again (`run_once`: per peer)
    circuit_failures: int = 5
    circuit_interval: float = 30.0

    @classmethod
    def from_settings(cls, s: Settings) -> WorkerSettings:
        return cls(
            poll_interval=s.outbox_poll_interval,
            max_attempts=s.outbox_max_attempts,
            backoff=s.outbox_backoff,
            backoff_max=s.outbox_backoff_max,
            lease=s.outbox_lease,
            circuit_failures=s.outbox_circuit_failures,
            circuit_interval=s.outbox_circuit_interval,
        )


class Stopped(Exception):
    """The worker stops a try before its next request: the message is no longer its to send."""


class CircuitOpen(PeerError):
    """The peer's circuit is open (and this try is not its probe)."""


class Worker(Background):
    thread_name = "voorzorg-outbox-worker"

    def __init__(
        self,
        store: Store,
        peers: Mapping[str, Peer],
        deliveries: Deliveries,
        *,
        settings: WorkerSettings | None = None,
        clients: Mapping[str, FhirClient] | None = None,
        session: requests.Session | None = None,
        retry: RetryPolicy | None = None,
        organization: str | None = None,
        observer: str = "voorzorg-adapter",
        worker_id: str | None = None,
        consents: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__()
        self.store = store
        self.peers = dict(peers)
        self.deliveries = deliveries
        self.settings = settings or WorkerSettings()
        self.outbox = Outbox(store)
        s = self.settings
        self.circuits = Circuits(store, CircuitSettings(s.circuit_failures, s.circuit_interval))
        self.clients: dict[str, FhirClient] = dict(clients or {})
        for name, peer in self.peers.items():
            if name not in self.clients:
                self.clients[name] = FhirClient.for_peer(peer, session=session, retry=retry)
        self.organization = organization
        self.observer = observer
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.consents = dict(consents or {})  # flow -> the recipient whose consent gates it
        self._heartbeat = _Heartbeat(self.outbox, self.worker_id, self.settings.lease)

    # --- one round ------------------------------------------------------------------------------
    def run_once(self) -> int:
        """Deliver what is due now, peer by peer (at most `batch` each); how many were tried."""
        return sum(self.run_peer(name) for name in self.peers)

    def run_peer(self, peer: str, stop: threading.Event | None = None) -> int:
        """Deliver due messages to one peer, one at a time, at most `batch`; how many were tried. One
        look for what is due, then each message is taken (leased) only when its turn comes."""
        due = self.outbox.due(peer, self.settings.batch)
        tried = 0
        while due and not (stop is not None and stop.is_set()):
            message = self.outbox.take(self.worker_id, peer, lease=self.settings.lease, among=due)
            if message is None:
                break  # the rest is taken by another worker, or the peer's circuit is open
            due = [i for i in due if i > message.id]
            self.deliver(message)
            tried += 1
        return tried

    def deliver(self, message: Message) -> str:
        """Send one claimed message; settle it and write its audit record together. What became of it."""
        guard = _Guard(self, message)
        with self._heartbeat.holding(message):
            outcome = self._try(message, guard)
        record = self._recorder(message, guard, outcome)
        if outcome.done is not None:
            fate = self.outbox.finished(message, self.worker_id, outcome.done.versions, record=record)
        elif outcome.error is not None:
            e = outcome.error
            fate = self.outbox.failed(
                message,
                self.worker_id,
                str(e),
                transient=e.transient,
                max_attempts=self.peers[message.peer].max_attempts or self.settings.max_attempts,
                backoff=self.settings.backoff,
                backoff_max=self.settings.backoff_max,
                not_before=e.retry_after,
                record=record,
            )
        else:
            fate = self.outbox.let_go(message, self.worker_id, record=record)
            if message.probe and guard.sent == 0:
                self.circuits.unprobed(message.peer)
        _log(message, outcome, fate)
        return fate

    def _try(self, message: Message, guard: _Guard) -> _Outcome:
        retries = 0 if message.probe else None
        client = self.clients[message.peer].watched(guard, retries=retries)
        ctx = DeliveryContext(client, message.peer, self.outbox)
        try:
            return _Outcome(done=delivery_for(self.deliveries, message.kind)(ctx, message))
        except Stopped as e:
            return _Outcome(stopped=str(e))
        except CircuitOpen as e:
            return _Outcome(stopped=str(e)) if guard.sent == 0 else _Outcome(error=e)
        except PeerError as e:
            return _Outcome(error=e)
        except Exception as e:  # a bug or a database hiccup: a failed try, tried again after a backoff
            log.exception("outbox message %d: delivery crashed (%s)", message.id, type(e).__name__)
            return _Outcome(error=PeerError(f"delivery failed: {type(e).__name__}"))

    def _recorder(self, message: Message, guard: _Guard, outcome: _Outcome) -> Record | None:
        """The audit record of a try that sent something (a transfer), for the transaction settling it."""
        if guard.sent == 0:
            return None
        peer = self.peers[message.peer]
        touched = outcome.done.touched if outcome.done is not None else []

        def record(s: Session, fate: str) -> None:
            code, text = _account(outcome, fate)
            append_event(s, self._event(message, peer, code, text, touched if fate != LOST else []))

        return record

    def _event(
        self, message: Message, peer: Peer, outcome: str, text: str, touched: list[str]
    ) -> dict[str, Any]:
        access = Access(interaction="transfer-out", resource_type=None)
        access.touched(message.client, message.patient)
        for ref in touched:
            access.touched(ref, None)
        me = Principal(client_id="voorzorg-adapter", role="jgz", organization=self.organization)
        event = build_event(
            access,
            principal=me,
            outcome=outcome,
            outcome_text=f"outbox message {message.id} ({message.flow}), try {message.attempts}: {text}",
            address=None,
            path=f"POST {peer.base_url}",
            observer=self.observer,
        )
        return as_transfer(event, peer, "export")

    # --- the loop -------------------------------------------------------------------------------
    def run(self, stop: threading.Event | None = None) -> None:
        """Deliver until `stop` is set: one loop per peer, each sleeping `poll_interval` whenever nothing
        of its peer was due (or its circuit is open)."""
        stop = stop or self._stop
        log.info("outbox worker %s: peers %s", self.worker_id, ", ".join(self.peers) or "(none)")
        loops = [
            threading.Thread(
                target=self._serve, args=(name, stop), name=f"voorzorg-outbox-{name}", daemon=True
            )
            for name in self.peers
        ]
        for t in loops:
            t.start()
        while not stop.wait(0.2):
            pass
        for t in loops:
            t.join()

    def _serve(self, peer: str, stop: threading.Event) -> None:
        repeat(
            stop,
            lambda: self.run_peer(peer, stop),
            self.settings.poll_interval,
            log,
            f"outbox worker ({peer})",
        )

    def wanted(self) -> bool:
        return bool(self.peers)  # nothing to deliver to: no thread


@dataclass
class _Outcome:
    done: Delivered | None = None
    error: PeerError | None = None
    stopped: str | None = None  # why the worker stopped before its next request


class _Guard:
    """The watch on a try's requests (`FhirClient.watched`): before each, the fence (lease, consent,
    circuit); after each, what the peer's circuit learns from it."""

    def __init__(self, worker: Worker, message: Message) -> None:
        self.worker = worker
        self.message = message
        self.sent = 0  # requests this try let through
        self.failing = message.probe  # the circuit has failures an answer clears

    def before(self) -> None:
        w, m = self.worker, self.message
        fence = w.outbox.fence(m, w.worker_id, consent=w.consents.get(m.flow))
        if fence.withdrawn:
            raise Stopped(fence.withdrawn)
        if not fence.held:
            raise Stopped("the lease is no longer this worker's: superseded, or taken over by another worker")
        c = fence.circuit
        if c is not None:
            self.failing = self.failing or c.failures > 0 or c.state != CLOSED
            if c.state != CLOSED and not (m.probe and c.probe_by == w.worker_id):
                raise CircuitOpen(f"{m.peer}: circuit {c.state} after {c.failures} failed requests")
        self.sent += 1

    def after(self, failure: PeerError | None) -> None:
        w, m = self.worker, self.message
        if failure is not None:
            self.failing = True
            w.circuits.failed(m.peer, str(failure)[:500], probe=m.probe)
        elif self.failing:
            w.circuits.answered(m.peer)
            self.failing = False


class _Heartbeat:
    """Extends this worker's leases of the messages in hand (one per peer loop) every lease/3 seconds
    while it lives: one thread, running while it holds any."""

    def __init__(self, outbox: Outbox, worker_id: str, lease: float) -> None:
        self.outbox, self.worker_id, self.lease = outbox, worker_id, lease
        self._held: dict[int, Message] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @contextmanager
    def holding(self, message: Message) -> Iterator[None]:
        with self._lock:
            self._held[message.id] = message
            if self._thread is None:
                self._thread = threading.Thread(target=self._beat, name="voorzorg-outbox-lease", daemon=True)
                self._thread.start()
        try:
            yield
        finally:
            with self._lock:
                self._held.pop(message.id, None)

    def _beat(self) -> None:
        while True:
            time.sleep(self.lease / 3)
            with self._lock:
                held = list(self._held.values())
                if not held:
                    self._thread = None
                    return
            for m in held:  # a lease no longer ours stays lost: the fence stops that try
                try:
                    self.outbox.extend(m, self.worker_id, self.lease)
                except Exception as e:  # the database briefly away: the next beat tries again
                    log.warning("outbox message %d: lease not extended (%s)", m.id, type(e).__name__)


def _account(outcome: _Outcome, fate: str) -> tuple[str, str]:
    """(AuditEvent outcome, text) of a try that sent something."""
    e = outcome.error
    said = outcome.stopped or (_safe(e) if e is not None else None)
    if fate == LOST:
        lost = "the lease had passed to another worker: not counted, left to it"
        return "minor", f"{said or 'answered'}; {lost}"
    if fate == SUPERSEDED:
        what = said or "this request was on the wire and completed"
        return "minor", f"{what}; superseded meanwhile (withdrawn or replaced): not sent again"
    if outcome.done is not None:
        return "success", outcome.done.note or "delivered"
    if outcome.stopped is not None:
        return "minor", outcome.stopped
    return ("serious" if fate == DEAD else "minor"), said or "failed"


def _log(message: Message, outcome: _Outcome, fate: str) -> None:
    if fate == DELIVERED:
        return
    e = outcome.error
    if e is not None and fate in (PENDING, DEAD):
        log.warning(
            "outbox message %d to %s: try %d failed (%s)%s",
            message.id,
            message.peer,
            message.attempts,
            f"HTTP {e.status}" if e.status else "no answer",
            ", parked as dead" if fate == DEAD else "",
        )
    elif fate in (LOST, SUPERSEDED):
        log.warning("outbox message %d to %s: try %d %s", message.id, message.peer, message.attempts, fate)


def _safe(e: PeerError) -> str:
    """The error for the audit record (the peer's first issue line at most; never resource content)."""
    return str(e)[:300]
