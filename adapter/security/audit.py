"""NEN 7513 access logging as FHIR AuditEvents in an append-only, hash-chained log.

Each record holds the hash of its predecessor, so changing or removing a record breaks the chain
(`voorzorg-adapter audit verify`). Records are written in their own transaction, after the request's
own work, so a refused or rolled-back request is logged all the same.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, insert, select, text, update

from adapter.config import CANONICAL_BASE
from adapter.fhir.dates import now_instant
from adapter.security.principal import Principal
from adapter.store.repository import Store
from adapter.store.schema import audit_event, audit_head, audit_patient

GENESIS = "0" * 64
_EVENT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
_INTERACTION = "http://hl7.org/fhir/restful-interaction"
_OUTCOME = {"success": "0", "minor": "4", "serious": "8", "major": "12"}
#: FHIR interaction -> AuditEvent.action (C create, R read/view/print, U update, D delete, E execute)
ACTIONS = {
    "create": "C",
    "read": "R",
    "vread": "R",
    "search-type": "E",
    "history-instance": "R",
    "history-type": "R",
    "update": "U",
    "delete": "D",
    "transaction": "E",
    "operation": "E",
    "transfer-out": "R",
    "transfer-in": "C",
    "token": "E",
}


@dataclass
class Access:
    """What one request did to client data, filled in by the handler, written by the audit middleware."""

    interaction: str = "read"
    resource_type: str | None = None
    entities: list[str] = field(default_factory=list)  # "Type/id" touched
    patients: list[str] = field(default_factory=list)  # "Patient/id" whose data was touched
    query: str | None = None

    def touched(self, reference: str, patient: str | None) -> None:
        if reference not in self.entities:
            self.entities.append(reference)
        if patient and patient not in self.patients:
            self.patients.append(patient)


def build_event(
    access: Access,
    *,
    principal: Principal | None,
    outcome: str,
    outcome_text: str,
    address: str | None,
    path: str,
    observer: str,
) -> dict[str, Any]:
    agent: list[dict[str, Any]] = [
        {
            "type": {
                "coding": [
                    {
                        "system": "http://dicom.nema.org/resources/ontology/DCM",
                        "code": "110150",
                        "display": "Application",
                    }
                ]
            },
            "who": {
                "identifier": {
                    "system": f"{CANONICAL_BASE}/NamingSystem/client-id",
                    "value": principal.client_id if principal else "anonymous",
                }
            },
            "requestor": True,
            "network": {"address": address or "unknown", "type": "2"},
            "policy": [principal.role] if principal and principal.role else [],
        }
    ]
    if principal and principal.organization:
        system, _, value = principal.organization.partition("|")
        agent.append(
            {
                "who": {"identifier": {"system": system, "value": value}},
                "requestor": False,
                "type": {"text": "on behalf of (organisation)"},
            }
        )
    if principal and principal.user:
        agent.append(
            {
                "who": {"identifier": {"value": principal.user}},
                "requestor": False,
                "type": {"text": "on behalf of (user)"},
            }
        )
    for a in agent:
        if not a.get("policy"):
            a.pop("policy", None)
    entity: list[dict[str, Any]] = [
        {
            "what": {"reference": p},
            "type": {
                "system": "http://terminology.hl7.org/CodeSystem/audit-entity-type",
                "code": "1",
                "display": "Person",
            },
            "role": {
                "system": "http://terminology.hl7.org/CodeSystem/object-role",
                "code": "1",
                "display": "Patient",
            },
        }
        for p in access.patients
    ]
    entity += [{"what": {"reference": e}} for e in access.entities if e not in access.patients]
    if access.query:
        entity.append({"type": {"text": "query"}, "description": access.query})
    return {
        "resourceType": "AuditEvent",
        "type": {"system": _EVENT_TYPE, "code": "rest", "display": "Restful Operation"},
        "subtype": [{"system": _INTERACTION, "code": access.interaction}],
        "action": ACTIONS.get(access.interaction, "E"),
        "recorded": now_instant(),
        "outcome": _OUTCOME[outcome],
        "outcomeDesc": outcome_text,
        "agent": agent,
        "source": {
            "observer": {"display": observer},
            "site": path,
            "type": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/security-source-type",
                    "code": "3",
                    "display": "Web Server",
                }
            ],
        },
        "entity": entity,
    }


def _patients(event: dict[str, Any]) -> list[str]:
    """The clients an AuditEvent names (entity role 1, Patient)."""
    return [
        e["what"]["reference"]
        for e in event.get("entity", [])
        if e.get("role", {}).get("code") == "1" and "what" in e
    ]


def _hash(prev: str, content: str) -> str:
    return hashlib.sha256((prev + content).encode("utf-8")).hexdigest()


class AuditLog:
    def __init__(self, store: Store) -> None:
        self.store = store

    def append(self, event: dict[str, Any]) -> dict[str, Any]:
        """Write one record at the head of the chain, in a transaction of its own."""
        event = dict(event)
        event["id"] = str(uuid.uuid4())
        with self.store.engine.begin() as conn:
            if not self.store.is_sqlite:  # SQLite's BEGIN IMMEDIATE already serialises writers
                conn.execute(text("SELECT pg_advisory_xact_lock(7513)"))
            head = conn.execute(
                select(audit_event.c.seq, audit_event.c.hash).order_by(audit_event.c.seq.desc()).limit(1)
            ).first()
            seq, prev = (head.seq + 1, head.hash) if head else (1, GENESIS)
            content = json.dumps(event, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
            digest = _hash(prev, content)
            patients = _patients(event)
            conn.execute(
                insert(audit_event).values(
                    seq=seq,
                    event_id=event["id"],
                    recorded=event["recorded"],
                    patient=patients[0] if patients else None,
                    content=content,
                    prev_hash=prev,
                    hash=_hash(prev, content),
                )
            )
            if patients:
                conn.execute(insert(audit_patient), [{"seq": seq, "patient": p} for p in patients])
            moved = conn.execute(update(audit_head).where(audit_head.c.id == 1).values(seq=seq, hash=digest))
            if moved.rowcount == 0:
                conn.execute(insert(audit_head).values(id=1, seq=seq, hash=digest))
        return event

    def verify(self) -> tuple[int, list[str]]:
        """(records checked, problems): a record whose link or content does not match, a head that does
        not point at the last record (records removed from the end), or a per-client index row that
        does not match the record it indexes (hiding accesses from the privacy officer)."""
        problems: list[str] = []
        prev, expected_seq, count = GENESIS, 1, 0
        indexed = self._patient_index()
        for row in self._rows():
            count += 1
            if row.seq != expected_seq:
                problems.append(f"record {expected_seq} is missing (next is {row.seq})")
            if row.prev_hash != prev:
                problems.append(f"record {row.seq} does not link to its predecessor")
            if _hash(row.prev_hash, row.content) != row.hash:
                problems.append(f"record {row.seq} was changed after it was written")
            if indexed.pop(row.seq, set()) != set(_patients(json.loads(row.content))):
                problems.append(f"the client index of record {row.seq} does not match the record")
            prev, expected_seq = row.hash, row.seq + 1
        problems += [f"the client index names record {seq}, which does not exist" for seq in sorted(indexed)]
        with self.store.engine.connect() as conn:
            head = conn.execute(select(audit_head.c.seq, audit_head.c.hash)).first()
        if head is not None and (head.seq != expected_seq - 1 or head.hash != prev):
            problems.append(
                f"the chain's head is record {head.seq}, but the log ends at record {expected_seq - 1}"
            )
        if head is None and count:
            problems.append("the chain's head is missing")
        return count, problems

    def _patient_index(self) -> dict[int, set[str]]:
        out: dict[int, set[str]] = {}
        with self.store.engine.connect() as conn:
            for row in conn.execute(select(audit_patient.c.seq, audit_patient.c.patient)):
                out.setdefault(row.seq, set()).add(row.patient)
        return out

    def _rows(self) -> Iterator[Any]:
        with self.store.engine.connect() as conn:
            yield from conn.execute(select(audit_event).order_by(audit_event.c.seq)).yield_per(1000)

    def search(self, patient: str | None, count: int, offset: int) -> tuple[int, list[dict[str, Any]]]:
        a, p = audit_event.c, audit_patient.c
        where = [a.seq.in_(select(p.seq).where(p.patient == patient))] if patient else []
        with self.store.reading() as s:
            total = s.conn.execute(select(func.count()).select_from(audit_event).where(*where)).scalar_one()
            rows = s.conn.execute(
                select(a.content).where(*where).order_by(a.seq.desc()).limit(count).offset(offset)
            ).all()
        return total, [json.loads(r.content) for r in rows]

    def read(self, event_id: str) -> dict[str, Any] | None:
        with self.store.reading() as s:
            row = s.conn.execute(
                select(audit_event.c.content).where(audit_event.c.event_id == event_id)
            ).first()
        return json.loads(row.content) if row else None
