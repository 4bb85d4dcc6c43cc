"""NEN 7513 access logging as FHIR AuditEvents in an append-only, hash-chained log.

Each record holds the hash of its predecessor, so changing or removing a record breaks the chain
(`voorzorg-adapter audit verify`).

A change is recorded in the same transaction as the change itself: `RecordChange` is one of the effects
every unit of work runs before commit (`adapter.workflows.effects`), for the `Actor` the unit of work acts
for — an HTTP request, or a command run by an operator. A committed change therefore always has its
record, and a change rolled back has none. What changes nothing — a read, a refusal, a failure — is
recorded by `AuditLog.append` in a transaction of its own (the HTTP gate does this after the answer
is known, so a refused request is logged all the same).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from adapter.config import CANONICAL_BASE
from adapter.fhir.dates import now_instant
from adapter.fhir.subject import client_of
from adapter.security.principal import Principal
from adapter.store.engine import Store
from adapter.store.session import Session, Stored

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
    #: A unit of work wrote this request's record with its change (the gate then writes none on success).
    recorded_with_change: bool = False

    def touched(self, reference: str, patient: str | None) -> None:
        if reference not in self.entities:
            self.entities.append(reference)
        if patient and patient not in self.patients:
            self.patients.append(patient)


@dataclass
class Actor:
    """Whom a unit of work acts for, and where (NEN 7513: the user, on whose behalf, the access point)."""

    principal: Principal | None
    access: Access
    path: str  # "POST /Encounter", or the command line ("voorzorg-adapter careplans complete-due")
    observer: str  # the adapter's base URL
    address: str | None = None  # the caller's network address, when there is one

    @property
    def writes_for(self) -> str | None:
        """The referring organisation whose versions this actor writes (history and vread show them to
        it and the JGZ only); None for the JGZ and the adapter itself, whose versions all may see."""
        p = self.principal
        return p.organization if p is not None and p.data_scope != "all" else None


_DCM = "http://dicom.nema.org/resources/ontology/DCM"
_ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
_OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
_SOURCE_TYPE = "http://terminology.hl7.org/CodeSystem/security-source-type"


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
    """The AuditEvent of one access (NEN 7513: what, when, about whom, by whom, on whose behalf, where)."""
    return {
        "resourceType": "AuditEvent",
        "type": {"system": _EVENT_TYPE, "code": "rest", "display": "Restful Operation"},
        "subtype": [{"system": _INTERACTION, "code": access.interaction}],
        "action": ACTIONS.get(access.interaction, "E"),
        "recorded": now_instant(),
        "outcome": _OUTCOME[outcome],
        "outcomeDesc": outcome_text,
        "agent": _agents(principal, address),
        "source": {
            "observer": {"display": observer},
            "site": path,
            "type": [{"system": _SOURCE_TYPE, "code": "3", "display": "Web Server"}],
        },
        "entity": _entities(access),
    }


def _agents(principal: Principal | None, address: str | None) -> list[dict[str, Any]]:
    """The client application that asked, and the organisation and person it acted for."""
    application: dict[str, Any] = {
        "type": {"coding": [{"system": _DCM, "code": "110150", "display": "Application"}]},
        "who": {
            "identifier": {
                "system": f"{CANONICAL_BASE}/NamingSystem/client-id",
                "value": principal.client_id if principal else "anonymous",
            }
        },
        "requestor": True,
        "network": {"address": address or "unknown", "type": "2"},
    }
    if principal and principal.role:
        application["policy"] = [principal.role]
    agents = [application]
    if principal and principal.organization:
        system, _, value = principal.organization.partition("|")
        agents.append(_on_behalf({"system": system, "value": value}, "organisation"))
    if principal and principal.user:
        agents.append(_on_behalf({"value": principal.user}, "user"))
    return agents


def _on_behalf(identifier: dict[str, str], of: str) -> dict[str, Any]:
    return {"who": {"identifier": identifier}, "requestor": False, "type": {"text": f"on behalf of ({of})"}}


def _entities(access: Access) -> list[dict[str, Any]]:
    """The clients whose data was touched (role Patient), the resources touched, and the query asked."""
    entity: list[dict[str, Any]] = [
        {
            "what": {"reference": p},
            "type": {"system": _ENTITY_TYPE, "code": "1", "display": "Person"},
            "role": {"system": _OBJECT_ROLE, "code": "1", "display": "Patient"},
        }
        for p in access.patients
    ]
    entity += [{"what": {"reference": e}} for e in access.entities if e not in access.patients]
    if access.query:
        entity.append(
            {
                "type": {"system": _ENTITY_TYPE, "code": "2", "display": "System Object"},
                "role": {"system": _OBJECT_ROLE, "code": "24", "display": "Query"},
                "description": access.query,
            }
        )
    return entity


def _patients(event: dict[str, Any]) -> list[str]:
    """The clients an AuditEvent names (entity role 1, Patient)."""
    return [
        e["what"]["reference"]
        for e in event.get("entity", [])
        if e.get("role", {}).get("code") == "1" and "what" in e
    ]


def _hash(prev: str, content: str) -> str:
    return hashlib.sha256((prev + content).encode("utf-8")).hexdigest()


def note_read(s: Session, stored: Stored) -> None:
    """A unit of work read this on its actor's behalf: its record names it (NEN 7513: every access)."""
    if isinstance(s.actor, Actor):
        s.actor.access.touched(stored.reference, client_of(stored.content))


def append_event(s: Session, event: dict[str, Any]) -> dict[str, Any]:
    """Write one record at the head of the chain, in the session's transaction."""
    event = dict(event)
    event["id"] = str(uuid.uuid4())
    head = s.audit.head()
    seq, prev = (head[0] + 1, head[1]) if head else (1, GENESIS)
    content = json.dumps(event, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    s.audit.append(
        seq=seq,
        event_id=event["id"],
        recorded=event["recorded"],
        content=content,
        prev_hash=prev,
        digest=_hash(prev, content),
        patients=_patients(event),
    )
    return event


class RecordChange:
    """The effect: a unit of work that changed client data writes its AuditEvent before it commits.

    The record names the actor, every resource written and the clients they are about, besides what the
    actor's handler noted (what it read on the way). A unit of work acting for no one (set-up, migration)
    is the adapter's own doing and recorded as such.
    """

    def __init__(self, observer: str, organization: str | None) -> None:
        self.observer = observer
        self.system = Principal(client_id="voorzorg-adapter", role="jgz", organization=organization)

    def __call__(self, s: Session) -> None:
        if not s.written:
            return
        actor = s.actor if isinstance(s.actor, Actor) else None
        access = Access(interaction=actor.access.interaction if actor else "operation")
        if actor is not None:
            access.resource_type = actor.access.resource_type
            access.query = actor.access.query
            for ref in actor.access.entities:
                access.touched(ref, None)
            access.patients.extend(actor.access.patients)
        for w in s.written:
            access.touched(w.stored.reference, client_of(w.stored.content))
        event = build_event(
            access,
            principal=actor.principal if actor else self.system,
            outcome="success",
            outcome_text=f"committed: {len({w.stored.reference for w in s.written})} resource(s) written",
            address=actor.address if actor else None,
            path=actor.path if actor else "voorzorg-adapter",
            observer=actor.observer if actor else self.observer,
        )
        append_event(s, event)
        if actor is not None:
            actor.access.recorded_with_change = True


class AuditLog:
    def __init__(self, store: Store) -> None:
        self.store = store

    def append(self, event: dict[str, Any]) -> dict[str, Any]:
        """Write one record at the head of the chain, in a transaction of its own."""
        return self.store.write(lambda s: append_event(s, event))

    def verify(self) -> tuple[int, list[str]]:
        """(records checked, problems): a record whose link or content does not match, a head that does
        not point at the last record (records removed from the end), or a per-client index row that
        does not match the record it indexes (hiding accesses from the privacy officer)."""
        with self.store.reading() as s:
            return _verify(s)

    def search(self, patient: str | None, count: int, offset: int) -> tuple[int, list[dict[str, Any]]]:
        with self.store.reading() as s:
            return s.audit.search(patient, count, offset)

    def read(self, event_id: str) -> dict[str, Any] | None:
        with self.store.reading() as s:
            return s.audit.read(event_id)


def _verify(s: Session) -> tuple[int, list[str]]:
    problems: list[str] = []
    prev, expected_seq, count = GENESIS, 1, 0
    indexed = s.audit.patient_index()
    for row in s.audit.rows():
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
    head = s.audit.recorded_head()
    if head is not None and (head[0] != expected_seq - 1 or head[1] != prev):
        problems.append(
            f"the chain's head is record {head[0]}, but the log ends at record {expected_seq - 1}"
        )
    if head is None and count:
        problems.append("the chain's head is missing")
    return count, problems
