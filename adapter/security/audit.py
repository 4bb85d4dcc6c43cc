"""NEN 7513 access logging as FHIR AuditEvents in an append-only, keyed hash chain.

Each record holds the digest of its predecessor, and its own digest is an HMAC over both with a key kept
outside the database (`adapter.security.audit_keys`): changing or removing a record breaks the chain,
and someone who can write the database but lacks the key cannot recompute it (`voorzorg-adapter audit
verify`, `adapter.security.audit_verify`). Signed checkpoints of the head, kept elsewhere, pin the log
against whoever holds the key too (`voorzorg-adapter audit checkpoint`). Records made before the chain
was keyed keep their plain SHA-256 digests, sealed by a keyed record when the key came (`seal_unkeyed`).

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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from adapter.config import CANONICAL_BASE
from adapter.fhir.dates import now_instant
from adapter.fhir.subject import client_of
from adapter.security.audit_keys import AuditKeys
from adapter.security.principal import Principal
from adapter.store.engine import Store
from adapter.store.session import Session, Stored

if TYPE_CHECKING:
    from adapter.security.audit_verify import Checkpoint

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
    #: A unit of work wrote this request's record with its change, and committed (the gate then records
    #: on success only what the request touched besides: `unrecorded`).
    recorded_with_change: bool = False
    #: The references and clients the committed change records name.
    recorded: set[str] = field(default_factory=set)

    def touched(self, reference: str, patient: str | None) -> None:
        if reference not in self.entities:
            self.entities.append(reference)
        if patient and patient not in self.patients:
            self.patients.append(patient)

    def committed(self, record: Access) -> None:
        """The change's record (`record`) is committed: what it names needs no record of its own."""
        self.recorded_with_change = True
        self.recorded |= {*record.entities, *record.patients}

    def unrecorded(self) -> Access | None:
        """What the request touched that no committed change record names (read after the change), as
        an access of its own; None when there is nothing left."""
        rest = Access(interaction="read", resource_type=self.resource_type)
        rest.entities = [e for e in self.entities if e not in self.recorded]
        rest.patients = [p for p in self.patients if p not in self.recorded]
        return rest if rest.entities or rest.patients else None


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
    """The digest of a record made before the chain was keyed (no key id)."""
    return hashlib.sha256((prev + content).encode("utf-8")).hexdigest()


def keys_of(s: Session) -> AuditKeys | None:
    """The key ring the session's store was given (None: a bare store, which writes and checks the
    unkeyed digests only)."""
    keys = s.audit.keys
    return keys if isinstance(keys, AuditKeys) else None


def digest(keys: AuditKeys | None, prev: str, content: str) -> tuple[str | None, str]:
    """(key id, digest) of a new record: keyed with the current key when there is a ring."""
    if keys is None:
        return None, _hash(prev, content)
    return keys.sign(prev + content)


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
    key_id, record_digest = digest(keys_of(s), prev, content)
    s.audit.append(
        seq=seq,
        event_id=event["id"],
        recorded=event["recorded"],
        content=content,
        prev_hash=prev,
        digest=record_digest,
        patients=_patients(event),
        key_id=key_id,
    )
    return event


#: The migration that keyed the chain: the records before it are sealed in its transaction.
KEYED_REVISION = "0005_relcore"
#: AuditEvent.entity.detail.type of the seal: how many unkeyed records it vouches for.
SEAL = "voorzorg-audit-seal"


def seal_unkeyed(observer: str, organization: str | None) -> Callable[[Session, frozenset[str]], None]:
    """After the migration that keys the chain (`Store.migrate(then=...)`): a keyed record that links to
    the last unkeyed one, so the records made before the key can no longer be rewritten unnoticed."""

    def seal(s: Session, applied: frozenset[str]) -> None:
        head = s.audit.recorded_head()
        if KEYED_REVISION not in applied or keys_of(s) is None or head is None:
            return
        me = Principal(client_id="voorzorg-adapter", role="jgz", organization=organization)
        event = build_event(
            Access(interaction="operation"),
            principal=me,
            outcome="success",
            outcome_text=f"audit log keyed: records 1-{head[0]}, made before, keep their unkeyed digests",
            address=None,
            path=f"migration {KEYED_REVISION}",
            observer=observer,
        )
        event["type"] = {"system": _DCM, "code": "110100", "display": "Application Activity"}
        event["entity"] = [
            {
                "type": {"system": _ENTITY_TYPE, "code": "2", "display": "System Object"},
                "description": "the audit log itself",
                "detail": [{"type": SEAL, "valueString": str(head[0])}],
            }
        ]
        append_event(s, event)

    return seal


def sealed_count(event: dict[str, Any]) -> int | None:
    """How many unkeyed records a seal vouches for; None for any other record."""
    for entity in event.get("entity", []):
        for detail in entity.get("detail", []):
            if detail.get("type") == SEAL and str(detail.get("valueString", "")).isdigit():
                return int(detail["valueString"])
    return None


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
        if actor is not None:  # once committed: an attempt rolled back and re-run may write nothing
            s.on_commit.append(lambda: actor.access.committed(access))


class AuditLog:
    def __init__(self, store: Store) -> None:
        self.store = store

    def append(self, event: dict[str, Any]) -> dict[str, Any]:
        """Write one record at the head of the chain, in a transaction of its own."""
        return self.store.write(lambda s: append_event(s, event))

    def verify(self, checkpoints: Sequence[Checkpoint] = ()) -> tuple[int, list[str]]:
        """(records checked, problems): a record whose link or keyed digest does not match, a head that
        does not point at the last record (records removed from the end), a per-client index row that
        does not match the record it indexes (hiding accesses from the privacy officer), a checkpoint
        the log no longer agrees with (adapter.security.audit_verify)."""
        from adapter.security.audit_verify import verify_chain

        with self.store.reading() as s:
            return verify_chain(s, checkpoints)

    def checkpoint(self, observer: str) -> dict[str, Any]:
        """A signed statement of the chain's head, to keep outside the database."""
        from adapter.security.audit_verify import make_checkpoint

        with self.store.reading() as s:
            return make_checkpoint(s, observer)

    def search(self, patient: str | None, count: int, offset: int) -> tuple[int, list[dict[str, Any]]]:
        with self.store.reading() as s:
            return s.audit.search(patient, count, offset)

    def read(self, event_id: str) -> dict[str, Any] | None:
        with self.store.reading() as s:
            return s.audit.read(event_id)
