"""The audit log's tables, as a unit of work sees them (`session.audit`): append at the head, read back.

How a record is made and hashed is the security layer's (`adapter.security.audit`); this module only
speaks SQL, inside the caller's transaction. Appends are serialised: SQLite's writers already are
(`BEGIN IMMEDIATE`), PostgreSQL takes a transaction-scoped advisory lock.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.engine import Connection

from adapter.store.schema import audit_event, audit_head, audit_patient

#: The advisory lock that serialises appends on PostgreSQL (NEN 7513, for want of a better number).
_APPEND_LOCK = 7513


@dataclass(frozen=True)
class ChainRow:
    seq: int
    content: str
    prev_hash: str
    hash: str
    key_id: str | None = None  # None: a plain digest, from before the chain was keyed


class AuditRows:
    def __init__(self, conn: Connection, is_sqlite: bool, keys: object | None = None) -> None:
        self.conn = conn
        self.is_sqlite = is_sqlite
        #: The key ring of the chain (adapter.security.audit_keys.AuditKeys), or None (a bare store).
        self.keys = keys

    def head(self) -> tuple[int, str] | None:
        """(seq, hash) of the newest record, taking the append lock first: the caller appends next."""
        if not self.is_sqlite:
            self.conn.execute(text(f"SELECT pg_advisory_xact_lock({_APPEND_LOCK})"))
        row = self.conn.execute(
            select(audit_event.c.seq, audit_event.c.hash).order_by(audit_event.c.seq.desc()).limit(1)
        ).first()
        return (int(row.seq), str(row.hash)) if row else None

    def append(
        self,
        *,
        seq: int,
        event_id: str,
        recorded: str,
        content: str,
        prev_hash: str,
        digest: str,
        patients: list[str],
        key_id: str | None = None,
    ) -> None:
        self.conn.execute(
            insert(audit_event).values(
                seq=seq,
                event_id=event_id,
                recorded=recorded,
                patient=patients[0] if patients else None,
                content=content,
                prev_hash=prev_hash,
                hash=digest,
                key_id=key_id,
            )
        )
        if patients:
            self.conn.execute(insert(audit_patient), [{"seq": seq, "patient": p} for p in patients])
        moved = self.conn.execute(update(audit_head).where(audit_head.c.id == 1).values(seq=seq, hash=digest))
        if moved.rowcount == 0:
            self.conn.execute(insert(audit_head).values(id=1, seq=seq, hash=digest))

    def rows(self) -> Iterator[ChainRow]:
        result = self.conn.execute(select(audit_event).order_by(audit_event.c.seq)).yield_per(1000)
        for r in result:
            yield ChainRow(int(r.seq), str(r.content), str(r.prev_hash), str(r.hash), r.key_id)

    def digest_at(self, seq: int) -> str | None:
        """The digest of record `seq` (a checkpoint names one)."""
        row = self.conn.execute(select(audit_event.c.hash).where(audit_event.c.seq == seq)).first()
        return str(row.hash) if row else None

    def recorded_head(self) -> tuple[int, str] | None:
        """The head as recorded in its own table (removing the newest records shows as a mismatch)."""
        row = self.conn.execute(select(audit_head.c.seq, audit_head.c.hash)).first()
        return (int(row.seq), str(row.hash)) if row else None

    def patient_index(self) -> dict[int, set[str]]:
        out: dict[int, set[str]] = {}
        for row in self.conn.execute(select(audit_patient.c.seq, audit_patient.c.patient)):
            out.setdefault(int(row.seq), set()).add(str(row.patient))
        return out

    def search(self, patient: str | None, count: int, offset: int) -> tuple[int, list[dict[str, Any]]]:
        a, p = audit_event.c, audit_patient.c
        where = [a.seq.in_(select(p.seq).where(p.patient == patient))] if patient else []
        total = self.conn.execute(select(func.count()).select_from(audit_event).where(*where)).scalar_one()
        rows = self.conn.execute(
            select(a.content).where(*where).order_by(a.seq.desc()).limit(count).offset(offset)
        ).all()
        return int(total), [json.loads(r.content) for r in rows]

    def read(self, event_id: str) -> dict[str, Any] | None:
        row = self.conn.execute(
            select(audit_event.c.content).where(audit_event.c.event_id == event_id)
        ).first()
        return json.loads(row.content) if row else None
