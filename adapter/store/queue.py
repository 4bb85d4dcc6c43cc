"""The outbox table, as a unit of work sees it (`session.queue`): rows in, rows claimed, rows settled.

The rules of the queue — backoff, what supersedes what, when a message is dead — are the exchange's
(`adapter.exchange.outbox`); this module only speaks SQL, inside the caller's transaction. Messages of
one (peer, client) go in `id` order: `claim` takes a message only when no older one of its client and
peer is still undelivered, or still on the wire (superseded while a worker was sending it).

Every claim gives the message a new lease `generation`: the fencing token. A worker changes a message
(`hold`, `settle`, `release`) only while the generation it claimed is still the message's, so a worker
whose lease passed to another can no longer count, or keep, what it no longer holds.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, bindparam, delete, exists, func, insert, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import aliased

from adapter.fhir.dates import instant, now_instant
from adapter.store.schema import outbox_message, peer_circuit, peer_resource

PENDING, DELIVERED, DEAD, SUPERSEDED = "pending", "delivered", "dead", "superseded"
STATUSES = (PENDING, DELIVERED, DEAD, SUPERSEDED)
#: Statuses after which a message no longer holds back the newer ones of its client and peer.
DONE = (DELIVERED, SUPERSEDED)


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
    generation: int = 0  # the lease's generation when claimed: the fencing token
    probe: bool = False  # taken as the probe of its peer's open circuit (one request, no retries)

    @property
    def patient(self) -> str | None:
        """The client the message is about (`Patient/id`); None for a flow about no client, whose
        ordering key `client` is something else (a report's `Measure/id`)."""
        return self.client if self.client.startswith("Patient/") else None

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


@dataclass(frozen=True)
class PeerVersion:
    """The peer's id and version of one of our resources, as its last answer said."""

    res_type: str
    res_id: str
    peer_id: str
    version_id: str | None


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
        generation=row.generation,
    )


@dataclass(frozen=True)
class Circuit:
    """A peer's circuit breaker as the database has it (no row: closed, no failures)."""

    peer: str
    state: str
    failures: int
    retry_at: int
    probe_by: str | None
    last_error: str | None
    changed: str

    def summary(self) -> dict[str, Any]:
        """What an operator sees of it."""
        return {
            "peer": self.peer,
            "state": self.state,
            "failures": self.failures,
            "nextProbe": _instant(self.retry_at) if self.state == OPEN else None,
            "probeBy": self.probe_by if self.state == HALF_OPEN else None,
            "lastError": self.last_error,
            "changed": self.changed,
        }


CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"


def _circuit(row: Any) -> Circuit:
    return Circuit(row.peer, row.state, row.failures, row.retry_at, row.probe_by, row.last_error, row.changed)


#: Which older messages a newer one drops: (its payload) -> whether it covers them.
Covers = Callable[[dict[str, Any]], bool]


def _claimable(now: Any) -> list[Any]:
    """Due, not leased (or its lease ran out), and the oldest of its (peer, client) not yet done — or
    still on the wire. `now`: epoch ms, or a bind parameter."""
    o = outbox_message.c
    older = aliased(outbox_message)
    return [
        o.status == PENDING,
        o.next_attempt <= now,
        or_(o.locked_until.is_(None), o.locked_until < now),
        ~exists(
            select(older.c.id).where(
                older.c.peer == o.peer,
                older.c.client == o.client,
                older.c.id < o.id,
                or_(
                    older.c.status.notin_(DONE),
                    and_(older.c.status == SUPERSEDED, older.c.locked_until >= now),
                ),
            )
        ),
    ]


_ONE = select(outbox_message).where(
    *_claimable(bindparam("now_ms")), outbox_message.c.id == bindparam("message_id")
)
#: One message by id, if it can be claimed now (built once: a worker runs it for every message), by
#: whether the backend is SQLite (PostgreSQL skips a row another worker is claiming).
_CLAIM_ONE = {True: _ONE, False: _ONE.with_for_update(skip_locked=True, of=outbox_message)}


class Queue:
    def __init__(self, conn: Connection, is_sqlite: bool) -> None:
        self.conn = conn
        self.is_sqlite = is_sqlite

    # --- in a unit of work ---
    def add(
        self, *, flow: str, kind: str, peer: str, client: str, payload: dict[str, Any], now_ms: int
    ) -> int:
        """A new pending message, due now; its id (the order within its client)."""
        done = self.conn.execute(
            insert(outbox_message).values(
                flow=flow,
                kind=kind,
                peer=peer,
                client=client,
                created=now_instant(),
                payload=json.dumps(payload, separators=(",", ":"), ensure_ascii=False),
                status=PENDING,
                attempts=0,
                next_attempt=now_ms,
            )
        )
        key = done.inserted_primary_key
        return int(key[0]) if key else 0

    def drop(
        self,
        *,
        flow: str,
        client: str,
        reason: str,
        peer: str | None = None,
        before: int | None = None,
        covers: Covers | None = None,
        in_flight: bool = False,
    ) -> int:
        """Mark undelivered messages superseded: pending ones no worker holds, and dead ones; with
        `in_flight`, the pending ones a worker holds too (they keep its lock: what is on the wire still
        holds the newer ones back until that worker lets go). A claim that got there first keeps its
        message otherwise (the row is re-checked under its lock on PostgreSQL; SQLite's writers are
        serialised)."""
        o = outbox_message.c
        idle = or_(o.status == PENDING, o.status == DEAD)
        if not in_flight:
            idle = or_(and_(o.status == PENDING, o.locked_by.is_(None)), o.status == DEAD)
        where = [o.flow == flow, o.client == client, idle]
        if peer is not None:
            where.append(o.peer == peer)
        if before is not None:
            where.append(o.id < before)
        dropped = 0
        for row in self.conn.execute(select(o.id, o.payload).where(*where).order_by(o.id)).all():
            if covers is not None and not covers(json.loads(row.payload)):
                continue
            done = self.conn.execute(
                update(outbox_message)
                .where(o.id == row.id, idle)
                .values(status=SUPERSEDED, last_error=reason[:2000])
            )
            dropped += done.rowcount
        return dropped

    # --- workers ---
    def due(self, *, limit: int, now_ms: int, peers: Collection[str] | None) -> list[int]:
        """Ids of up to `limit` messages `claim` would take now, oldest first (a read: nothing is taken)."""
        o = outbox_message.c
        query = select(o.id).where(*_claimable(now_ms)).order_by(o.id).limit(limit)
        if peers is not None:
            query = query.where(o.peer.in_(list(peers)))
        return [int(r[0]) for r in self.conn.execute(query).all()]

    def claim(
        self,
        worker_id: str,
        *,
        limit: int,
        lease_ms: int,
        now_ms: int,
        peers: Collection[str] | None,
        among: Collection[int] | None = None,
    ) -> list[Message]:
        """Take up to `limit` due messages, the oldest undelivered one of each (peer, client) — of the
        ids `among`, when given (a cheap look at those rows only) — under a lease of a new generation.
        The message's `attempts` is the number of the try in hand; the row counts it only when the try
        ends (`settle`): a lease that runs out is not a failed try."""
        if among is not None:  # row by row on the primary key: a look at these rows only
            return self._claim_among(worker_id, sorted(among), limit, now_ms, lease_ms, peers)
        o = outbox_message.c
        query = select(outbox_message).where(*_claimable(now_ms)).order_by(o.id).limit(limit)
        if peers is not None:
            query = query.where(o.peer.in_(list(peers)))
        if not self.is_sqlite:
            query = query.with_for_update(skip_locked=True, of=outbox_message)
        return [self._take(row, worker_id, now_ms + lease_ms) for row in self.conn.execute(query).all()]

    def _claim_among(
        self,
        worker_id: str,
        ids: list[int],
        limit: int,
        now_ms: int,
        lease_ms: int,
        peers: Collection[str] | None,
    ) -> list[Message]:
        one = _CLAIM_ONE[self.is_sqlite]
        taken: list[Message] = []
        for i in ids:
            row = self.conn.execute(one, {"now_ms": now_ms, "message_id": i}).first()
            if row is not None and (peers is None or row.peer in peers):
                taken.append(self._take(row, worker_id, now_ms + lease_ms))
                if len(taken) >= limit:
                    break
        return taken

    def _take(self, row: Any, worker_id: str, until_ms: int) -> Message:
        o = outbox_message.c
        note = row.last_error
        if row.locked_by is not None:  # its lease ran out: that worker stopped mid-delivery
            note = f"the delivery by {row.locked_by} did not finish (lease expired)"
        generation = row.generation + 1
        self.conn.execute(
            update(outbox_message)
            .where(o.id == row.id)
            .values(locked_by=worker_id, locked_until=until_ms, generation=generation, last_error=note)
        )
        return replace(
            _message(row),
            locked_by=worker_id,
            attempts=row.attempts + 1,
            last_error=note,
            generation=generation,
        )

    def _mine(self, message_id: int, worker_id: str, generation: int | None) -> list[Any]:
        o = outbox_message.c
        where = [o.id == message_id, o.locked_by == worker_id]
        if generation is not None:
            where.append(o.generation == generation)
        return where

    def settle(self, message_id: int, worker_id: str, generation: int | None = None, **values: Any) -> bool:
        """Set `values` on a message this worker still holds (pending, locked by it, in the lease
        generation it claimed); False: it lost it."""
        o = outbox_message.c
        done = self.conn.execute(
            update(outbox_message)
            .where(*self._mine(message_id, worker_id, generation), o.status == PENDING)
            .values(locked_by=None, locked_until=None, **values)
        )
        return bool(done.rowcount == 1)

    def holds(self, message_id: int, worker_id: str, generation: int) -> bool:
        """Whether this worker still holds the message in the generation it claimed, still to be sent."""
        o = outbox_message.c
        where = [*self._mine(message_id, worker_id, generation), o.status == PENDING]
        return self.conn.execute(select(o.id).where(*where)).first() is not None

    def hold(self, message_id: int, worker_id: str, generation: int, until_ms: int, *, pending: bool) -> bool:
        """Extend this worker's lease of the message to `until_ms` while it still holds it (and, with
        `pending`, while the message may still be sent); False: the lease is no longer its own."""
        o = outbox_message.c
        where = self._mine(message_id, worker_id, generation)
        if pending:
            where.append(o.status == PENDING)
        done = self.conn.execute(update(outbox_message).where(*where).values(locked_until=until_ms))
        return bool(done.rowcount == 1)

    def release(
        self, message_id: int, worker_id: str, generation: int, *, status: str, **values: Any
    ) -> bool:
        """Let go of a message of this `status` this worker still holds, untried (pending) or superseded
        while it was on the wire: the newer ones of its client may go. False: not its own."""
        o = outbox_message.c
        done = self.conn.execute(
            update(outbox_message)
            .where(*self._mine(message_id, worker_id, generation), o.status == status)
            .values(locked_by=None, locked_until=None, **values)
        )
        return bool(done.rowcount == 1)

    # --- the peer's versions ---
    def remember(self, peer: str, versions: Iterable[PeerVersion]) -> None:
        p = peer_resource.c
        stamp = now_instant()
        for v in versions:
            where = and_(p.peer == peer, p.res_type == v.res_type, p.res_id == v.res_id)
            if v.peer_id == "":  # forget: the peer no longer has it
                self.conn.execute(delete(peer_resource).where(where))
                continue
            moved = self.conn.execute(
                update(peer_resource)
                .where(where)
                .values(peer_id=v.peer_id, version_id=v.version_id, updated=stamp)
            )
            if moved.rowcount == 0:
                self.conn.execute(
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
        rows = self.conn.execute(
            select(peer_resource).where(p.peer == peer, p.res_id.in_([i for _, i in wanted]))
        ).all()
        return {
            (r.res_type, r.res_id): PeerVersion(r.res_type, r.res_id, r.peer_id, r.version_id)
            for r in rows
            if (r.res_type, r.res_id) in wanted
        }

    # --- the peers' circuit breakers ---
    def circuit(self, peer: str) -> Circuit | None:
        row = self.conn.execute(select(peer_circuit).where(peer_circuit.c.peer == peer)).first()
        return _circuit(row) if row else None

    def circuits(self) -> list[Circuit]:
        rows = self.conn.execute(select(peer_circuit).order_by(peer_circuit.c.peer)).all()
        return [_circuit(r) for r in rows]

    def failure(self, peer: str, error: str) -> Circuit:
        """One more consecutive failed request to the peer; the circuit as it is now."""
        c = peer_circuit.c
        values = {"last_error": error[:2000], "changed": now_instant()}
        done = self.conn.execute(
            update(peer_circuit).where(c.peer == peer).values(failures=c.failures + 1, **values)
        )
        if done.rowcount == 0:
            self.conn.execute(
                insert(peer_circuit).values(peer=peer, state=CLOSED, failures=1, retry_at=0, **values)
            )
        found = self.circuit(peer)
        assert found is not None
        return found

    def set_circuit(
        self,
        peer: str,
        state: str,
        *,
        retry_at: int = 0,
        probe_by: str | None = None,
        only: Collection[str] = (),
    ) -> bool:
        """Move the peer's circuit to `state` (`closed` also forgets the failures); with `only`, just
        when it is in one of those states now (False: it was not)."""
        c = peer_circuit.c
        values: dict[str, Any] = {"state": state, "retry_at": retry_at, "probe_by": probe_by}
        values["changed"] = now_instant()
        if state == CLOSED:
            values["failures"] = 0
        if only:
            done = self.conn.execute(
                update(peer_circuit).where(c.peer == peer, c.state.in_(list(only))).values(**values)
            )
            return bool(done.rowcount == 1)
        done = self.conn.execute(update(peer_circuit).where(c.peer == peer).values(**values))
        if done.rowcount == 0:
            self.conn.execute(insert(peer_circuit).values(peer=peer, **{"failures": 0, **values}))
        return True

    def take_probe(self, peer: str, worker_id: str, now_ms: int, until_ms: int) -> bool:
        """The one probe of an open circuit whose wait is over (or whose prober vanished): this worker's."""
        c = peer_circuit.c
        done = self.conn.execute(
            update(peer_circuit)
            .where(c.peer == peer, c.state.in_([OPEN, HALF_OPEN]), c.retry_at <= now_ms)
            .values(state=HALF_OPEN, probe_by=worker_id, retry_at=until_ms, changed=now_instant())
        )
        return bool(done.rowcount == 1)

    # --- operators ---
    def get(self, message_id: int) -> Message | None:
        row = self.conn.execute(select(outbox_message).where(outbox_message.c.id == message_id)).first()
        return _message(row) if row else None

    def list(
        self, *, status: str | None, peer: str | None, client: str | None, limit: int, offset: int
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
        total = self.conn.execute(select(func.count()).select_from(outbox_message).where(*where)).scalar_one()
        rows = self.conn.execute(
            select(outbox_message).where(*where).order_by(o.id).limit(limit).offset(offset)
        ).all()
        return int(total), [_message(r) for r in rows]

    def counts(self) -> dict[str, int]:
        o = outbox_message.c
        rows = self.conn.execute(select(o.status, func.count()).group_by(o.status)).all()
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
        n = self.conn.execute(
            select(func.count()).select_from(outbox_message).where(o.status == PENDING, blocked)
        ).scalar_one()
        return int(n)

    def retry(self, ids: Collection[int] | None, now_ms: int) -> int:
        """Dead messages (these, or all) back to pending, due now, with a fresh count of tries."""
        o = outbox_message.c
        where = [o.status == DEAD]
        if ids is not None:
            where.append(o.id.in_(list(ids)))
        done = self.conn.execute(
            update(outbox_message)
            .where(*where)
            .values(status=PENDING, attempts=0, next_attempt=now_ms, locked_by=None, locked_until=None)
        )
        return int(done.rowcount)

    def purge(self, cutoff: str) -> int:
        """Remove messages delivered before `cutoff` (an instant), and superseded ones queued before it."""
        o = outbox_message.c
        done = self.conn.execute(
            delete(outbox_message).where(
                or_(
                    and_(o.status == DELIVERED, o.delivered <= cutoff),
                    and_(o.status == SUPERSEDED, o.created <= cutoff),
                )
            )
        )
        return int(done.rowcount)
