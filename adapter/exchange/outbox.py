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
from datetime import UTC, datetime
from typing import Any

from adapter.exchange.peers import Peer
from adapter.exchange.routing import Flow, Routes, plan, withdrawn
from adapter.fhir.dates import instant, now_instant
from adapter.store.engine import Store
from adapter.store.queue import DEAD, DELIVERED, PENDING, STATUSES, SUPERSEDED, Message, PeerVersion
from adapter.store.session import Session

__all__ = [
    "DEAD",
    "DELIVERED",
    "PENDING",
    "STATUSES",
    "SUPERSEDED",
    "Message",
    "Outbox",
    "PeerVersion",
    "QueueChanges",
    "enqueue",
    "withdraw",
]


#: What else settling a try writes, in its transaction (the worker: the transfer's audit record), given
#: the message's new status.
Settled = Callable[[Session, str], None]


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


def withdraw(session: Session, flow: str, client: str, reason: str) -> int:
    """Drop what is queued for this client in this flow and not yet being sent (her consent ended)."""
    return session.queue.drop(flow=flow, client=client, reason=reason)


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
        lease of `lease` seconds. Counts as a try: a worker that dies mid-delivery has used it."""
        now = self._ms()
        return self.store.write(
            lambda s: s.queue.claim(
                worker_id, limit=limit, lease_ms=int(lease * 1000), now_ms=now, peers=peers
            )
        )

    def delivered(
        self,
        message: Message,
        worker_id: str,
        versions: Iterable[PeerVersion] = (),
        also: Settled | None = None,
    ) -> bool:
        """Mark delivered and remember the peer's versions, in one transaction (with `also`: the
        transfer's audit record). False when the lease was lost (another worker has it now; the peer's
        idempotency makes that harmless)."""

        def work(s: Session) -> bool:
            done = s.queue.settle(message.id, worker_id, status=DELIVERED, delivered=now_instant())
            s.queue.remember(message.peer, versions)
            if also is not None:
                also(s, DELIVERED)
            return done

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
        also: Settled | None = None,
    ) -> str:
        """Record a failed try: back to pending after a backoff with jitter, or dead (with `also`, in the
        same transaction: the try's audit record). The new status."""
        dead = not transient or message.attempts >= max_attempts
        wait = random.uniform(0.5, 1.0) * min(backoff_max, backoff * 2 ** max(0, message.attempts - 1))
        if not_before is not None:
            wait = max(wait, not_before)
        status = DEAD if dead else PENDING

        def work(s: Session) -> None:
            s.queue.settle(
                message.id,
                worker_id,
                status=status,
                last_error=error[:2000],
                next_attempt=self._ms() + int(wait * 1000),
            )
            s.queue.remember(message.peer, versions)
            if also is not None:
                also(s, status)

        self.store.write(work)
        return status

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
