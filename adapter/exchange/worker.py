"""The delivery worker: takes due outbox messages, sends them, marks them delivered or failed.

    worker = adapter.exchange.worker(adapter.store)  # built by the composition root (adapter.composition)
    worker.run_once()                                 # deliver what is due now; how many were tried
    worker.start(); ...; worker.stop()                # a background thread (the API's lifespan does this)
    worker.run(stop_event)                            # the loop `voorzorg-adapter worker` runs

Every try is written to the NEN 7513 audit log as a transfer (AuditEvent type DCM 110106 "Export",
subtype `transfer-out`): the client, the peer as destination, the resources sent, the outcome — in the
same transaction that marks the message delivered or failed.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests

from adapter.config import Settings
from adapter.exchange.client import FhirClient, PeerError, RetryPolicy
from adapter.exchange.delivery import Deliveries, DeliveryContext, delivery_for
from adapter.exchange.outbox import DEAD, DELIVERED, Message, Outbox, Settled
from adapter.exchange.peers import Peer, as_transfer
from adapter.security.audit import Access, AuditLog, append_event, build_event
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
    lease: float = 300.0
    batch: int = 20

    @classmethod
    def from_settings(cls, s: Settings) -> WorkerSettings:
        return cls(
            poll_interval=s.outbox_poll_interval,
            max_attempts=s.outbox_max_attempts,
            backoff=s.outbox_backoff,
            backoff_max=s.outbox_backoff_max,
            lease=s.outbox_lease,
        )


class Worker:
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
    ) -> None:
        self.store = store
        self.peers = dict(peers)
        self.deliveries = deliveries
        self.settings = settings or WorkerSettings()
        self.outbox = Outbox(store)
        self.audit = AuditLog(store)
        self.clients: dict[str, FhirClient] = dict(clients or {})
        for name, peer in self.peers.items():
            if name not in self.clients:
                self.clients[name] = FhirClient.for_peer(peer, session=session, retry=retry)
        self.organization = organization
        self.observer = observer
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    # --- one round ------------------------------------------------------------------------------
    def run_once(self) -> int:
        """Claim what is due (one message per client and peer) and try each once; how many were tried."""
        if not self.peers:
            return 0
        messages = self.outbox.claim(
            self.worker_id, limit=self.settings.batch, lease=self.settings.lease, peers=list(self.peers)
        )
        for m in messages:
            self.deliver(m)
        return len(messages)

    def deliver(self, message: Message) -> str:
        """Send one claimed message; record the outcome in the outbox and the audit log. The status."""
        peer = self.peers[message.peer]
        ctx = DeliveryContext(self.clients[message.peer], message.peer, self.outbox)
        try:
            done = delivery_for(self.deliveries, message.kind)(ctx, message)
        except PeerError as e:
            status = self.outbox.failed(
                message,
                self.worker_id,
                str(e),
                transient=e.transient,
                max_attempts=peer.max_attempts or self.settings.max_attempts,
                backoff=self.settings.backoff,
                backoff_max=self.settings.backoff_max,
                not_before=e.retry_after,
                also=self._record(message, peer, _safe(e), []),
            )
            log.warning(
                "outbox message %d to %s: try %d failed (%s)%s",
                message.id,
                message.peer,
                message.attempts,
                f"HTTP {e.status}" if e.status else "no answer",
                ", parked as dead" if status == DEAD else "",
            )
            return status
        except Exception as e:  # a bug or a database hiccup: the lease runs out and the message is retried
            log.exception("outbox message %d: delivery crashed (%s)", message.id, type(e).__name__)
            self._audit(message, peer, "serious", f"delivery failed: {type(e).__name__}", [])
            return "pending"
        record = self._record(message, peer, done.note or "delivered", done.touched)
        self.outbox.delivered(message, self.worker_id, done.versions, also=record)
        return "delivered"

    def _record(self, message: Message, peer: Peer, text: str, touched: list[str]) -> Settled:
        """The try's transfer record, written in the transaction that settles the message (a worker that
        dies after that commit leaves both, before it neither)."""

        def record(s: Session, status: str) -> None:
            outcome = {DELIVERED: "success", DEAD: "serious"}.get(status, "minor")
            append_event(s, self._event(message, peer, outcome, text, touched))

        return record

    def _audit(self, message: Message, peer: Peer, outcome: str, text: str, touched: list[str]) -> None:
        """A try that settled nothing (the delivery crashed), recorded in a transaction of its own."""
        try:
            self.audit.append(self._event(message, peer, outcome, text, touched))
        except Exception as e:  # the delivery stands; the failure to log is itself logged
            log.error("could not write the audit record of a transfer: %s", type(e).__name__)

    def _event(
        self, message: Message, peer: Peer, outcome: str, text: str, touched: list[str]
    ) -> dict[str, Any]:
        access = Access(interaction="transfer-out", resource_type=None)
        access.touched(message.client, message.client)
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
        as_transfer(event, peer, "export")
        return event

    # --- the loop -------------------------------------------------------------------------------
    def run(self, stop: threading.Event | None = None) -> None:
        """Deliver until `stop` is set; sleeps `poll_interval` whenever nothing was due."""
        stop = stop or self._stop
        log.info("outbox worker %s: peers %s", self.worker_id, ", ".join(self.peers) or "(none)")
        while not stop.is_set():
            try:
                tried = self.run_once()
            except Exception as e:  # the database may be briefly away: try again after a pause
                log.error("outbox worker: %s", type(e).__name__)
                tried = 0
            if not tried:
                stop.wait(self.settings.poll_interval)

    def start(self) -> None:
        if self._thread is not None or not self.peers:
            return  # nothing to deliver to: no thread
        self._stop.clear()
        self._thread = threading.Thread(target=self.run, name="voorzorg-outbox-worker", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None


def _safe(e: PeerError) -> str:
    """The error for the audit record (the peer's first issue line at most; never resource content)."""
    return str(e)[:300]
