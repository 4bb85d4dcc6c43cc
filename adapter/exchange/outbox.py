"""The transactional outbox: what must reach a peer is written in the same database transaction as the
change itself, and a worker (`adapter.exchange.worker`) delivers it later, at least once, in order.

To queue something, inside a unit of work (`Store.write(work)`):

    enqueue(session, flow="obstetric-feedback", kind="transaction", peer="de-wieg",
            client="Patient/123", payload={"entries": [...]})

or let the routing data do it: `QueueChanges` — one of the effects every unit of work runs before it
commits (`adapter.workflows.effects`) — turns the unit of work's writes into messages
(`adapter.exchange.routing.plan`), so intake, visits, themes and the care plan queue what they change
without knowing about peers. The effect raising rolls the whole unit of work back: a change never
commits without its message, nor a message without its change.

Queue life: `pending` → (`claim`ed by a worker for a lease) → `delivered`, or back to `pending` with a
later `next_attempt` (backoff with jitter) → after `max_attempts` tries, or at once when the peer
refuses the message itself (a 4xx other than 408/409/412/423/429), `dead` with its last error.
Messages of one (peer, client) go strictly in `id` order: a message waits while an older one of the
same client and peer is not delivered (a dead one too, until `retry` revives it or an operator
purges it), so a peer never gets an older state after a newer one.

Superseded: a flow with `supersede: true` carries the full current state of its resources in every
message, so queueing a newer one marks the older undelivered ones of the same flow, peer and client whose
resources it covers `superseded` (never sent): pending ones no worker holds, and dead ones. A message a
worker is sending is left alone (the newer one waits behind it, in order). `withdraw(session, flow,
client)` does the same for a client whose consent no longer permits the flow: what is queued for her is
not sent. Both run in the caller's transaction, so they take effect the moment it commits.

Several workers may run (threads, processes, hosts): `claim` takes due messages under a lease in a
short transaction — `FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite's `BEGIN IMMEDIATE` serialises
writers — so no message is sent by two workers at once. A worker that dies mid-delivery leaves its
lease to run out; the next worker sends the message again, and the peer's idempotent handling
(conditional create/update) keeps one copy.

`Outbox` (list, counts, retry, purge_delivered) is what `voorzorg-adapter outbox` and the admin view
use; `versions` tells the peer's id and versionId of every resource we sent it. The SQL lives with the
store (`session.queue`, `adapter.store.queue`); the rules live here.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from adapter.exchange.peers import Peer
from adapter.exchange.routing import Flow, Routes, plan, withdrawn
from adapter.fhir.dates import instant, now_instant
from adapter.store.engine import Store
from adapter.store.queue import (
    CLOSED,
    DEAD,
    DELIVERED,
    HALF_OPEN,
    OPEN,
    PENDING,
    STATUSES,
    SUPERSEDED,
    Circuit,
    Message,
    PeerVersion,
)
from adapter.store.session import Session
from adapter.workflows.sharing import may_share_with

__all__ = [
    "DEAD",
    "DELIVERED",
    "LOST",
    "PENDING",
    "STATUSES",
    "SUPERSEDED",
    "Circuit",
    "Fence",
    "Message",
    "Outbox",
    "PeerVersion",
    "QueueChanges",
    "deletions_only",
    "enqueue",
    "withdraw",
]

#: What became of a try whose lease passed to another worker: nothing of it is kept (that worker's try
#: decides); not a status a message ever has.
LOST = "lost"
#: Writes the audit record of a try, in the transaction that settles it: (session, what became of it).
Record = Callable[[Session, str], None]


def _now_ms() -> int:
    return int(time.time() * 1000)


# --- queueing, inside a unit of work -------------------------------------------------------------
def enqueue(
    session: Session,
    *,
    flow: str,
    kind: str,
    peer: str,
    client: str,
    payload: dict[str, Any],
    supersede: bool = False,
) -> int:
    """Queue one message in the session's transaction; its id (the order within its client). With
    `supersede`, older undelivered messages of the same flow, peer and client it covers are dropped."""
    newer = session.queue.add(
        flow=flow, kind=kind, peer=peer, client=client, payload=payload, now_ms=_now_ms()
    )
    if supersede:
        covered = {(e["type"], e["id"]) for e in payload.get("entries", [])}

        def covers(older: dict[str, Any]) -> bool:
            return {(e["type"], e["id"]) for e in older.get("entries", [])} <= covered

        session.queue.drop(
            flow=flow,
            client=client,
            reason=f"superseded by message {newer}",
            peer=peer,
            before=newer,
            covers=covers,
        )
    return newer


def deletions_only(payload: dict[str, Any]) -> bool:
    """A message that only deletes at the peer (never withheld by consent: it takes her data away)."""
    entries = payload.get("entries") or []
    return bool(entries) and all(e.get("method", "PUT") == "DELETE" for e in entries)


def withdraw(session: Session, flow: str, client: str, reason: str) -> int:
    """Her consent ended: every undelivered message of this flow for her is superseded — queued, dead,
    or held by a worker (which stops before its next request) — except deletions."""
    return session.queue.drop(
        flow=flow, client=client, reason=reason, in_flight=True, covers=lambda p: not deletions_only(p)
    )


class QueueChanges:
    """The effect that turns a unit of work's writes, routed, into outbox rows before commit."""

    def __init__(self, flows: Iterable[Flow], peers: Mapping[str, Peer], routes: Routes) -> None:
        self.flows = tuple(flows)
        self.peers = dict(peers)
        self.routes = routes

    def __call__(self, session: Session) -> None:
        if not session.written or not self.flows:
            return
        for flow, client in withdrawn(session, self.flows):
            withdraw(session, flow.name, client, f"not sent: her consent no longer permits {flow.consent}")
        for p in plan(session, self.flows, self.peers, self.routes):
            enqueue(
                session,
                flow=p.flow.name,
                kind=p.flow.kind,
                peer=p.to,
                client=p.client,
                payload=p.payload,
                supersede=p.flow.supersede,
            )


# --- the queue, for workers and operators ---------------------------------------------------------
@dataclass(frozen=True)
class Fence:
    """The check before every request of a try (`Outbox.fence`)."""

    held: bool  # the lease is still the worker's and the message still to be sent
    withdrawn: str | None  # why her consent no longer permits it (the message is now superseded)
    circuit: Circuit | None  # the peer's circuit breaker (None: closed, no failures)


def _reconcile(s: Session, message: Message, worker_id: str, versions: list[PeerVersion]) -> str:
    """A try whose message is no longer this worker's to settle. Superseded while on the wire: what the
    peer answered still tells what it holds, and the worker lets go so what follows (the deletion) may
    go. Taken over by another worker: nothing of this try is kept; that worker's try decides."""
    if s.queue.release(message.id, worker_id, message.generation, status=SUPERSEDED):
        s.queue.remember(message.peer, versions)
        return SUPERSEDED
    return LOST


class Outbox:
    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock

    def _ms(self) -> int:
        return int(self.clock() * 1000)

    # --- workers ---
    def claim(
        self, worker_id: str, *, limit: int = 10, lease: float = 300.0, peers: Collection[str] | None = None
    ) -> list[Message]:
        """Take up to `limit` due messages, the oldest undelivered one of each (peer, client), under a
        lease of `lease` seconds (each a new generation). Circuits are not consulted: workers `take`."""
        now = self._ms()
        return self.store.write(
            lambda s: s.queue.claim(
                worker_id, limit=limit, lease_ms=int(lease * 1000), now_ms=now, peers=peers
            )
        )

    def due(self, peer: str, limit: int) -> list[int]:
        """Ids of up to `limit` messages to `peer` that could be taken now, oldest first (for `take`)."""
        now = self._ms()
        with self.store.reading() as s:
            return s.queue.due(limit=limit, now_ms=now, peers=[peer])

    def take(
        self, worker_id: str, peer: str, *, lease: float, among: Collection[int] | None = None
    ) -> Message | None:
        """The next due message to `peer` — the oldest still due of the ids `among` (from `due`: a look
        at those rows only), or of all — claimed under a lease of `lease` seconds; None when there is
        none, or the peer's circuit is open (when its wait is over, the message is the one probe)."""
        now, lease_ms = self._ms(), int(lease * 1000)

        def work(s: Session) -> Message | None:
            circuit = s.queue.circuit(peer)
            probe = circuit is not None and circuit.state != CLOSED
            if probe and not s.queue.take_probe(peer, worker_id, now, now + lease_ms):
                return None
            taken = s.queue.claim(
                worker_id, limit=1, lease_ms=lease_ms, now_ms=now, peers=[peer], among=among
            )
            if not taken:
                if probe:  # nothing to probe with: the next message is the probe
                    s.queue.set_circuit(peer, OPEN, retry_at=now, only=(HALF_OPEN,))
                return None
            return replace(taken[0], probe=probe)

        return self.store.write(work)

    def fence(self, message: Message, worker_id: str, *, consent: str | None = None) -> Fence:
        """Before a request of a try: is the lease still this worker's, in the generation it claimed,
        and the message still to be sent; does her consent still permit the flow (`consent`: its
        recipient; when it no longer does, the flow's undelivered messages for her are withdrawn); how
        is the peer's circuit. A read (the heartbeat keeps the lease), but for that withdrawal."""
        with self.store.reading() as s:
            circuit = s.queue.circuit(message.peer)
            if not s.queue.holds(message.id, worker_id, message.generation):
                return Fence(False, None, circuit)
            gated = consent is not None and not deletions_only(message.payload)
            if not gated or may_share_with(s, message.client, str(consent)):
                return Fence(True, None, circuit)
        why = f"not sent: her consent no longer permits {consent}"
        self.store.write(lambda s: withdraw(s, message.flow, message.client, why))
        return Fence(False, why, circuit)

    def extend(self, message: Message, worker_id: str, lease: float) -> bool:
        """The heartbeat: this worker's lease of the message, superseded or not, `lease` seconds more.
        False: it is no longer its own."""
        until = self._ms() + int(lease * 1000)
        return self.store.write(
            lambda s: s.queue.hold(message.id, worker_id, message.generation, until, pending=False)
        )

    def delivered(
        self,
        message: Message,
        worker_id: str,
        versions: Iterable[PeerVersion] = (),
        *,
        record: Record | None = None,
    ) -> bool:
        """Mark delivered and remember the peer's versions, in one transaction (with the try's audit
        record). False when the lease was lost (`finished` says what became of it)."""
        return self.finished(message, worker_id, versions, record=record) == DELIVERED

    def finished(
        self,
        message: Message,
        worker_id: str,
        versions: Iterable[PeerVersion] = (),
        *,
        record: Record | None = None,
    ) -> str:
        """A try the peer accepted: `delivered`, or — the lease no longer held — `superseded` (it was on
        the wire when withdrawn: the worker lets go) or `lost` (to another worker: nothing is kept)."""
        versions = list(versions)

        def work(s: Session) -> str:
            stamp = {"status": DELIVERED, "delivered": now_instant(), "attempts": message.attempts}
            if s.queue.settle(message.id, worker_id, message.generation, **stamp):
                s.queue.remember(message.peer, versions)
                fate = DELIVERED
            else:
                fate = _reconcile(s, message, worker_id, versions)
            if record is not None:
                record(s, fate)
            return fate

        return self.store.write(work)

    def failed(
        self,
        message: Message,
        worker_id: str,
        error: str,
        *,
        transient: bool,
        max_attempts: int,
        backoff: float,
        backoff_max: float,
        not_before: float | None = None,
        versions: Iterable[PeerVersion] = (),
        record: Record | None = None,
    ) -> str:
        """Record a failed try: back to pending after a backoff with jitter, or dead. The new status —
        or, the lease no longer held, `superseded` or `lost` (as for `finished`)."""
        dead = not transient or message.attempts >= max_attempts
        wait = random.uniform(0.5, 1.0) * min(backoff_max, backoff * 2 ** max(0, message.attempts - 1))
        if not_before is not None:
            wait = max(wait, not_before)
        status = DEAD if dead else PENDING
        versions = list(versions)

        def work(s: Session) -> str:
            fate = status
            if not s.queue.settle(
                message.id,
                worker_id,
                message.generation,
                status=status,
                attempts=message.attempts,
                last_error=error[:2000],
                next_attempt=self._ms() + int(wait * 1000),
            ):
                fate = _reconcile(s, message, worker_id, versions)
            elif versions:
                s.queue.remember(message.peer, versions)
            if record is not None:
                record(s, fate)
            return fate

        return self.store.write(work)

    def let_go(self, message: Message, worker_id: str, *, record: Record | None = None) -> str:
        """A try stopped before its next request: `pending` when it was still this worker's (not counted
        as a try), `superseded` when withdrawn meanwhile, else `lost`."""

        def work(s: Session) -> str:
            if s.queue.release(message.id, worker_id, message.generation, status=PENDING):
                fate = PENDING
            else:
                fate = _reconcile(s, message, worker_id, [])
            if record is not None:
                record(s, fate)
            return fate

        return self.store.write(work)

    def circuits(self) -> dict[str, Circuit]:
        """The peers' circuit breakers (a peer without one is closed)."""
        with self.store.reading() as s:
            return {c.peer: c for c in s.queue.circuits()}

    def versions(self, peer: str, refs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], PeerVersion]:
        """What we know of the peer's copies of these (type, id)s."""
        with self.store.reading() as s:
            return s.queue.versions(peer, refs)

    # --- operators ---
    def get(self, message_id: int) -> Message | None:
        with self.store.reading() as s:
            return s.queue.get(message_id)

    def list(
        self,
        *,
        status: str | None = None,
        peer: str | None = None,
        client: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[int, list[Message]]:
        with self.store.reading() as s:
            return s.queue.list(status=status, peer=peer, client=client, limit=limit, offset=offset)

    def counts(self) -> dict[str, int]:
        with self.store.reading() as s:
            return s.queue.counts()

    def held(self) -> int:
        """Pending messages that wait behind a dead one of the same client and peer (until it is retried)."""
        with self.store.reading() as s:
            return s.queue.held()

    def retry(self, ids: Collection[int] | None = None) -> int:
        """Dead messages (these, or all) back to pending, due now, with a fresh count of tries."""
        now = self._ms()
        return self.store.write(lambda s: s.queue.retry(ids, now))

    def purge_delivered(self, older_than: float = 0.0) -> int:
        """Remove messages delivered more than `older_than` seconds ago (and superseded ones queued
        that long ago: they will never be sent)."""
        cutoff = instant(datetime.fromtimestamp(self.clock() - older_than, UTC))  # microseconds, as stamped
        return self.store.write(lambda s: s.queue.purge(cutoff))
