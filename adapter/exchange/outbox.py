"""The transactional outbox: what must reach a peer is written in the same database transaction as the
change itself, and a worker (`adapter.exchange.worker`) delivers it later, at least once, in order.

To queue something, inside a unit of work (`Store.write(work)`):

    enqueue(session, flow="obstetric-feedback", kind="transaction", peer="de-wieg",
            client="Patient/123", payload={"entries": [...]})

or let the routing data do it: `install(store, flows, peers)` adds a hook to `Store.write` that turns
every unit of work's writes into messages (`adapter.exchange.routing.plan`) before it commits — so
intake, visits, themes and the care plan queue what they change without knowing about peers. The hook
raising rolls the whole unit of work back: a change never commits without its message, nor a message
without its change.

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
use. `remember`/`versions` keep the peer's id and versionId of every resource we sent it.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, delete, exists, func, insert, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import aliased

from adapter.exchange.peers import Peer
from adapter.exchange.routing import Flow, plan, withdrawn
from adapter.fhir.dates import instant, now_instant
from adapter.store.repository import Session, Store
from adapter.store.schema import outbox_message, peer_resource

PENDING, DELIVERED, DEAD, SUPERSEDED = "pending", "delivered", "dead", "superseded"
STATUSES = (PENDING, DELIVERED, DEAD, SUPERSEDED)
#: Statuses after which a message no longer holds back the newer ones of its client and peer.
_DONE = (DELIVERED, SUPERSEDED)


def _now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True)
class Message:
    id: int
    flow: str
    kind: str
    peer: str
    client: str
    created: str
    payload: dict[str, Any]
    status: str
    attempts: int
    next_attempt: int
    locked_by: str | None
    last_error: str | None
    delivered: str | None

    def summary(self) -> dict[str, Any]:
        """What an operator sees: no resource content (client data), only what and where."""
        entries = self.payload.get("entries", [])
        return {
            "id": self.id,
            "flow": self.flow,
            "kind": self.kind,
            "peer": self.peer,
            "client": self.client,
            "status": self.status,
            "attempts": self.attempts,
            "created": self.created,
            "nextAttempt": _instant(self.next_attempt) if self.status == PENDING else None,
            "delivered": self.delivered,
            "lastError": self.last_error,
            "entries": [f"{e.get('method', 'PUT')} {e.get('type')}/{e.get('id')}" for e in entries],
        }


def _instant(ms: int) -> str:
    return instant(datetime.fromtimestamp(ms / 1000, UTC))


def _message(row: Any) -> Message:
    return Message(
        id=row.id,
        flow=row.flow,
        kind=row.kind,
        peer=row.peer,
        client=row.client,
        created=row.created,
        payload=json.loads(row.payload),
        status=row.status,
        attempts=row.attempts,
        next_attempt=row.next_attempt,
        locked_by=row.locked_by,
        last_error=row.last_error,
        delivered=row.delivered,
    )


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
    done = session.conn.execute(
        insert(outbox_message).values(
            flow=flow,
            kind=kind,
            peer=peer,
            client=client,
            created=now_instant(),
            payload=json.dumps(payload, separators=(",", ":"), ensure_ascii=False),
            status=PENDING,
            attempts=0,
            next_attempt=_now_ms(),
        )
    )
    key = done.inserted_primary_key
    newer = int(key[0]) if key else 0
    if supersede:
        covered = {(e["type"], e["id"]) for e in payload.get("entries", [])}
        _drop(session, flow, peer, client, f"superseded by message {newer}", newer, covered)
    return newer


def withdraw(session: Session, flow: str, client: str, reason: str) -> int:
    """Drop what is queued for this client in this flow and not yet being sent (her consent ended)."""
    return _drop(session, flow, None, client, reason, None, None)


def _drop(
    session: Session,
    flow: str,
    peer: str | None,
    client: str,
    reason: str,
    before: int | None,
    covered: set[tuple[str, str]] | None,
) -> int:
    """Mark undelivered messages superseded: pending ones no worker holds, and dead ones. A claim that
    got there first keeps its message (the row is re-checked under its lock on PostgreSQL; SQLite's
    writers are serialised)."""
    o = outbox_message.c
    idle = or_(and_(o.status == PENDING, o.locked_by.is_(None)), o.status == DEAD)
    where = [o.flow == flow, o.client == client, idle]
    if peer is not None:
        where.append(o.peer == peer)
    if before is not None:
        where.append(o.id < before)
    dropped = 0
    for row in session.conn.execute(select(o.id, o.payload).where(*where).order_by(o.id)).all():
        if covered is not None:
            theirs = {(e["type"], e["id"]) for e in json.loads(row.payload).get("entries", [])}
            if not theirs <= covered:
                continue
        done = session.conn.execute(
            update(outbox_message)
            .where(o.id == row.id, idle)
            .values(status=SUPERSEDED, last_error=reason[:2000], locked_by=None, locked_until=None)
        )
        dropped += done.rowcount
    return dropped


class OutboxHook:
    """The `Store.write` hook: the unit of work's writes, routed, become outbox rows before commit."""

    def __init__(self, flows: Iterable[Flow], peers: Collection[str] | Mapping[str, Peer]) -> None:
        self.flows = tuple(flows)
        self.peers: Collection[str] | Mapping[str, Peer] = (
            dict(peers) if isinstance(peers, Mapping) else frozenset(peers)
        )

    def __call__(self, session: Session) -> None:
        if not session.written:
            return
        for flow, client in withdrawn(session, self.flows):
            withdraw(session, flow.name, client, f"not sent: her consent no longer permits {flow.consent}")
        for p in plan(session, self.flows, self.peers):
            enqueue(
                session,
                flow=p.flow.name,
                kind=p.flow.kind,
                peer=p.to,
                client=p.client,
                payload=p.payload,
                supersede=p.flow.supersede,
            )


def install(
    store: Store, flows: Iterable[Flow], peers: Collection[str] | Mapping[str, Peer]
) -> OutboxHook | None:
    """Route the store's writes to the configured peers (by name; a Mapping of `Peer`s also serves
    routed flows); None (no hook) when no flow has its peer."""
    active = [f for f in flows if f.peer in peers or (f.route is not None and peers)]
    if not active:
        return None
    hook = OutboxHook(active, peers)
    store.add_write_hook(hook)
    return hook


# --- the queue, for workers and operators ---------------------------------------------------------
@dataclass(frozen=True)
class PeerVersion:
    """The peer's id and version of one of our resources, as its last answer said."""

    res_type: str
    res_id: str
    peer_id: str
    version_id: str | None


class Outbox:
    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock

    def _ms(self) -> int:
        return int(self.clock() * 1000)

    def _begin(self) -> Any:
        return self.store.engine.begin()  # SQLite: BEGIN IMMEDIATE (the store's engine hook)

    # --- workers ---
    def claim(
        self, worker_id: str, *, limit: int = 10, lease: float = 300.0, peers: Collection[str] | None = None
    ) -> list[Message]:
        """Take up to `limit` due messages, the oldest undelivered one of each (peer, client), under a
        lease of `lease` seconds. Counts as a try: a worker that dies mid-delivery has used it."""
        now = self._ms()
        o = outbox_message.c
        older = aliased(outbox_message)
        query = (
            select(outbox_message)
            .where(
                o.status == PENDING,
                o.next_attempt <= now,
                or_(o.locked_until.is_(None), o.locked_until < now),
                ~exists(
                    select(older.c.id).where(
                        older.c.peer == o.peer,
                        older.c.client == o.client,
                        older.c.id < o.id,
                        older.c.status.notin_(_DONE),
                    )
                ),
            )
            .order_by(o.id)
            .limit(limit)
        )
        if peers is not None:
            query = query.where(o.peer.in_(list(peers)))
        if not self.store.is_sqlite:
            query = query.with_for_update(skip_locked=True, of=outbox_message)
        with self._begin() as conn:
            rows = conn.execute(query).all()
            taken = []
            for row in rows:
                note = row.last_error
                if row.locked_by is not None:  # its lease ran out: that worker stopped mid-delivery
                    note = f"the delivery by {row.locked_by} did not finish (lease expired)"
                conn.execute(
                    update(outbox_message)
                    .where(o.id == row.id)
                    .values(
                        locked_by=worker_id,
                        locked_until=now + int(lease * 1000),
                        attempts=row.attempts + 1,
                        last_error=note,
                    )
                )
                taken.append(
                    replace(_message(row), locked_by=worker_id, attempts=row.attempts + 1, last_error=note)
                )
        return taken

    def delivered(self, message: Message, worker_id: str, versions: Iterable[PeerVersion] = ()) -> bool:
        """Mark delivered and remember the peer's versions, in one transaction. False when the lease was
        lost (another worker has it now; the peer's idempotency makes that harmless)."""
        o = outbox_message.c
        with self._begin() as conn:
            done = conn.execute(
                update(outbox_message)
                .where(o.id == message.id, o.locked_by == worker_id, o.status == PENDING)
                .values(status=DELIVERED, delivered=now_instant(), locked_by=None, locked_until=None)
            )
            self._remember(conn, message.peer, versions)
        return done.rowcount == 1

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
    ) -> str:
        """Record a failed try: back to pending after a backoff with jitter, or dead. The new status."""
        o = outbox_message.c
        dead = not transient or message.attempts >= max_attempts
        wait = random.uniform(0.5, 1.0) * min(backoff_max, backoff * 2 ** max(0, message.attempts - 1))
        if not_before is not None:
            wait = max(wait, not_before)
        status = DEAD if dead else PENDING
        with self._begin() as conn:
            conn.execute(
                update(outbox_message)
                .where(o.id == message.id, o.locked_by == worker_id, o.status == PENDING)
                .values(
                    status=status,
                    last_error=error[:2000],
                    next_attempt=self._ms() + int(wait * 1000),
                    locked_by=None,
                    locked_until=None,
                )
            )
            self._remember(conn, message.peer, versions)
        return status

    # --- the peer's versions ---
    def _remember(self, conn: Connection, peer: str, versions: Iterable[PeerVersion]) -> None:
        p = peer_resource.c
        stamp = now_instant()
        for v in versions:
            where = and_(p.peer == peer, p.res_type == v.res_type, p.res_id == v.res_id)
            if v.peer_id == "":  # forget: the peer no longer has it
                conn.execute(delete(peer_resource).where(where))
                continue
            moved = conn.execute(
                update(peer_resource)
                .where(where)
                .values(peer_id=v.peer_id, version_id=v.version_id, updated=stamp)
            )
            if moved.rowcount == 0:
                conn.execute(
                    insert(peer_resource).values(
                        peer=peer,
                        res_type=v.res_type,
                        res_id=v.res_id,
                        peer_id=v.peer_id,
                        version_id=v.version_id,
                        updated=stamp,
                    )
                )

    def versions(self, peer: str, refs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], PeerVersion]:
        """What we know of the peer's copies of these (type, id)s."""
        wanted = set(refs)
        if not wanted:
            return {}
        p = peer_resource.c
        with self.store.engine.connect() as conn:
            rows = conn.execute(
                select(peer_resource).where(p.peer == peer, p.res_id.in_([i for _, i in wanted]))
            ).all()
        return {
            (r.res_type, r.res_id): PeerVersion(r.res_type, r.res_id, r.peer_id, r.version_id)
            for r in rows
            if (r.res_type, r.res_id) in wanted
        }

    # --- operators ---
    def get(self, message_id: int) -> Message | None:
        with self.store.engine.connect() as conn:
            row = conn.execute(select(outbox_message).where(outbox_message.c.id == message_id)).first()
        return _message(row) if row else None

    def list(
        self,
        *,
        status: str | None = None,
        peer: str | None = None,
        client: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[int, list[Message]]:
        o = outbox_message.c
        where = [
            c
            for c in (
                o.status == status if status else None,
                o.peer == peer if peer else None,
                o.client == client if client else None,
            )
            if c is not None
        ]
        with self.store.engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(outbox_message).where(*where)).scalar_one()
            rows = conn.execute(
                select(outbox_message).where(*where).order_by(o.id).limit(limit).offset(offset)
            ).all()
        return total, [_message(r) for r in rows]

    def counts(self) -> dict[str, int]:
        o = outbox_message.c
        with self.store.engine.connect() as conn:
            rows = conn.execute(select(o.status, func.count()).group_by(o.status)).all()
        out = dict.fromkeys((PENDING, DELIVERED, DEAD), 0)  # superseded: only when there are any
        out.update({r[0]: int(r[1]) for r in rows})
        return out

    def held(self) -> int:
        """Pending messages that wait behind a dead one of the same client and peer (until it is retried)."""
        o = outbox_message.c
        older = aliased(outbox_message)
        blocked = exists(
            select(older.c.id).where(
                older.c.peer == o.peer, older.c.client == o.client, older.c.id < o.id, older.c.status == DEAD
            )
        )
        with self.store.engine.connect() as conn:
            n = conn.execute(
                select(func.count()).select_from(outbox_message).where(o.status == PENDING, blocked)
            ).scalar_one()
        return int(n)

    def retry(self, ids: Collection[int] | None = None) -> int:
        """Dead messages (these, or all) back to pending, due now, with a fresh count of tries."""
        o = outbox_message.c
        where = [o.status == DEAD]
        if ids is not None:
            where.append(o.id.in_(list(ids)))
        with self._begin() as conn:
            done = conn.execute(
                update(outbox_message)
                .where(*where)
                .values(
                    status=PENDING, attempts=0, next_attempt=self._ms(), locked_by=None, locked_until=None
                )
            )
        return int(done.rowcount)

    def purge_delivered(self, older_than: float = 0.0) -> int:
        """Remove messages delivered more than `older_than` seconds ago (and superseded ones queued
        that long ago: they will never be sent)."""
        o = outbox_message.c
        cutoff = instant(datetime.fromtimestamp(self.clock() - older_than, UTC))  # microseconds, as stamped
        with self._begin() as conn:
            done = conn.execute(
                delete(outbox_message).where(
                    or_(
                        and_(o.status == DELIVERED, o.delivered <= cutoff),
                        and_(o.status == SUPERSEDED, o.created <= cutoff),
                    )
                )
            )
        return int(done.rowcount)
