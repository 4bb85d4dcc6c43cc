"""Intake of a referral: read the Bundle, decide, store it all in one transaction, move the Task.

`receive_referral` is the one way a referral comes in — a transaction Bundle (`POST [base]`) or a
notified pull (`POST /Task`, the referral fetched from the sender) — and owns the sender checks, inside
the same transaction as the intake, so a check and the write it guards cannot be split by another writer.

Resending the same referral (same ServiceRequest identifier) re-decides and updates in place: the
client is found by BSN and the referral by its identifier within the sender's numbering (unique business
keys in the store; a sender's data stays the sender's: its Patient is kept as its own copy, referring to
the client record, which the first referral makes and then only the JGZ changes), and
every other resource of the referral gets an id derived from the referral and its role
(`adapter.mapping.ids`), so nothing is ever stored twice. Resources the earlier submission had and this
one lacks are deleted.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from adapter.config import CANONICAL_BASE
from adapter.data import (
    eligibility_rules,
    referral_codes,
    task_default_kind,
    task_kind,
    task_kinds,
    task_transitions,
)
from adapter.domain.eligibility import Decision, decide
from adapter.domain.facts import Deployment
from adapter.fhir.dates import now_instant
from adapter.fhir.models import parameters
from adapter.fhir.outcome import FhirError, Issue
from adapter.fhir.references import retarget
from adapter.mapping.decision_out import apply_to_task, concept, to_guidance_response
from adapter.mapping.ids import (
    careplan_id,
    guidance_id,
    patient_as_sent_id,
    referral_part_id,
    referral_task_id,
)
from adapter.mapping.referral_in import Entry, Referral, read_referral
from adapter.security.senders import Sender
from adapter.store.engine import Store
from adapter.store.session import Session, Stored, Write, new_id, same_content
from adapter.workflows import consult
from adapter.workflows.careplan import STARTED, plan_at_intake
from adapter.workflows.findings import confirmed_referral

#: Identifier systems whose holders are shared between referrals (the same practice, the same person).
_SHARED_KEYS = {"Organization", "Practitioner", "PractitionerRole"}
REFERRAL_TASK_PROFILE = f"{CANONICAL_BASE}/StructureDefinition/voorzorg-referral-task"


@dataclass(frozen=True)
class IntakeResult:
    referral: Referral
    decision: Decision
    writes: list[Write]  # in Bundle entry order
    task: Write
    guidance: Write
    task_in_bundle: bool
    patient_reference: str
    careplan: Write | None = None
    #: The consult request made, updated or cancelled (not in the transaction response: the JGZ's question)
    consult: tuple[Write, ...] = ()
    #: The JGZ's record of her, when a referrer's referral made it (not the referrer's: never granted)
    client: Write | None = None

    @property
    def shared_with_sender(self) -> list[Write]:
        """What the referring organisation may see: its referral's parts, the Task, decision and plan."""
        return [*self.writes, self.task, self.guidance, *([self.careplan] if self.careplan else [])]

    @property
    def touched(self) -> list[Write]:
        """Everything intake wrote, for its AuditEvent (NEN 7513 lists every resource a request touched)."""
        return [*self.shared_with_sender, *self.consult, *([self.client] if self.client else [])]


def check_eligibility(bundle: dict[str, Any], deployment: Deployment) -> Decision:
    """The decision alone: nothing is stored."""
    return decide(read_referral(bundle).facts, eligibility_rules(), deployment)


def referral_bundle(body: dict[str, Any]) -> dict[str, Any]:
    """The referral Bundle of a `$check-eligibility` body: the Bundle itself, or Parameters.referral."""
    if body.get("resourceType") != "Parameters":
        return body
    found = [p for p in parameters(body) if p["name"] == "referral"]
    if len(found) != 1 or not isinstance(found[0].get("resource"), dict):
        raise FhirError.one(
            400,
            "Parameters must hold exactly one parameter 'referral' with the referral Bundle as resource",
            "Parameters.parameter",
            code="required",
        )
    resource: dict[str, Any] = found[0]["resource"]
    return resource


def receive_referral(
    store: Store, referral: Referral, sender: Sender, deployment: Deployment
) -> IntakeResult:
    """A referral that passed the contract, from `sender`: checked against the sender's rights, decided,
    and stored, in one transaction."""
    sender.may_send(referral.requester_organizations)
    sender.may_send_consents(referral)
    decision = decide(referral.facts, eligibility_rules(), deployment)

    def work(s: Session) -> IntakeResult:
        return _store(s, referral, decision, deployment, sender)

    return store.write(work)


def intake(store: Store, bundle: dict[str, Any], deployment: Deployment) -> IntakeResult:
    """A referral Bundle taken in for the organisation running the adapter (no sender checks)."""
    return receive_referral(store, read_referral(bundle), Sender.trusted(), deployment)


def check_sent_task(referral: Referral, current: Stored | None) -> None:
    """422 naming each element of the sender's own Task that is not the sender's to set: a referral
    comes in asking (task-transitions.yaml `sent`), as a referral Task (no other kind's code); where it
    goes from there is the receiver's move, made by the decision. A resend may carry the status the
    receiver already gave the Task (a notified-pull sender's Task mirrors ours)."""
    if referral.task is None:
        return
    task, path = referral.task.resource, referral.task.path
    default = task_default_kind()
    sent = task_kinds()[default].get("sent", {})
    now = current.content if current is not None and not current.deleted else {}
    issues = [
        Issue(
            f"A referral's Task is sent with {element} {', '.join(allowed)}; "
            f"{task.get(element)!r} is the receiver's to set",
            (f"{path}.{element}",),
            "business-rule",
        )
        for element, allowed in sent.items()
        if task.get(element) not in allowed and (not now or task.get(element) != now.get(element))
    ]
    if task_kind(task) != default:
        issues.append(
            Issue(
                f"A referral's Task is a {default} Task; this code makes it a {task_kind(task)} Task",
                (f"{path}.code",),
                "business-rule",
            )
        )
    if issues:
        raise FhirError(422, issues)


# --- the unit of work ------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Ids:
    """Where each entry of the referral goes: its id, and the references that must follow it."""

    patient: str  # the client record (her BSN's)
    referral: str
    by_entry: dict[int, tuple[str, str]]  # entry index -> (type, id)
    references: dict[str, str]  # fullUrl or Type/id in the Bundle -> Type/id stored
    #: Entry index -> the record it is the sender's copy of (a referrer's Patient: `keeps_own_copy`)
    copies: dict[int, str] = field(default_factory=dict)

    @property
    def patient_ref(self) -> str:
        return f"Patient/{self.patient}"

    @property
    def kept(self) -> set[str]:
        return {"/".join(v) for v in self.by_entry.values()}


def _store(
    s: Session, referral: Referral, decision: Decision, deployment: Deployment | None, sender: Sender
) -> IntakeResult:
    ids = _claim_ids(s, referral, sender)
    s.prefetch(_touched(ids))
    check_sent_task(referral, s.get("Task", referral_task_id(ids.referral)))
    # what the nurse established at the intake visit outranks what this submission says
    referral, decision = confirmed_referral(s, ids.referral, referral, decision, deployment)
    earlier = _referral_resources(s, s.get("ServiceRequest", ids.referral))
    decision = consult.decision_at_intake(
        s, ids.referral, referral.facts, decision
    )  # an accepted advice holds
    when = now_instant()
    writes = [s.put(_as_stored(en, ids), method="PUT") for en in referral.entries if en is not referral.task]
    client = _client_record(s, referral, ids)
    guidance = _write_decision(s, referral, decision, ids, when)
    task = _write_task(s, referral, decision, ids, when)
    if referral.task is not None:
        writes.insert(referral.entries.index(referral.task), task)
    careplan = plan_at_intake(
        s,
        facts=referral.facts,
        decision=decision,
        task_status=task.stored.content["status"],
        referral_id=ids.referral,
        patient_ref=ids.patient_ref,
        guidance_ref=f"GuidanceResponse/{guidance_id(ids.referral)}",
    )
    for ref in earlier - ids.kept:  # what an earlier submission had and this one lacks
        s.delete(*ref.split("/", 1))
    # The consult request, made, updated or cancelled (not granted to the sender: it is the JGZ's question).
    asked = consult.after_intake(s, ids.referral, ids.patient_ref, referral.facts, decision, deployment, when)
    result = IntakeResult(
        referral,
        decision,
        writes,
        task,
        guidance,
        referral.task is not None,
        ids.patient_ref,
        careplan,
        tuple(asked),
        client,
    )
    for w in result.shared_with_sender:
        for organization in referral.requester_organizations:
            s.grant(w.stored.res_type, w.stored.res_id, organization)
    return result


def _claim_ids(s: Session, referral: Referral, sender: Sender) -> _Ids:
    """The client by her BSN (one key space for all); the referral by its number, and the records the
    sender sends (Organization, Practitioner) by theirs, within the sender's numbering; the rest by
    their role in the referral. A referrer's Patient is its own copy, referring to the client record."""
    bsn_system = referral_codes()["systems"]["bsn"]
    owner = sender.numbering(referral)
    patient_id = s.claim_key("Patient", bsn_system, referral.bsn, new_id())
    referral_id = s.claim_key("ServiceRequest", *referral.referral_identifier, new_id(), owner)
    fixed = {referral.service_request.index: referral_id}
    if referral.task is not None:
        fixed[referral.task.index] = referral_task_id(referral_id)
    copies = {referral.patient.index: patient_id} if sender.keeps_own_copy else {}
    fixed[referral.patient.index] = patient_as_sent_id(referral_id) if copies else patient_id
    by_entry: dict[int, tuple[str, str]] = {}
    seen: dict[str, int] = {}
    for en in referral.entries:
        if en.index in fixed:
            rid = fixed[en.index]
        elif en.type in _SHARED_KEYS and (ident := _first_identifier(en)):
            rid = s.claim_key(en.type, *ident, new_id(), owner)
        else:
            role = f"{en.type}/{referral.items.get(en.index) or _code_key(en)}"
            seen[role] = seen.get(role, 0) + 1
            rid = referral_part_id(referral_id, f"{role}/{seen[role]}")
        by_entry[en.index] = (en.type, rid)
    references: dict[str, str] = {}
    for en in referral.entries:
        target = f"Patient/{copies[en.index]}" if en.index in copies else "/".join(by_entry[en.index])
        if en.full_url:
            references[en.full_url] = target
        if en.resource.get("id"):
            references[f"{en.type}/{en.resource['id']}"] = target
    return _Ids(patient_id, referral_id, by_entry, references, copies)


def _touched(ids: _Ids) -> list[tuple[str, str]]:
    """What intake reads and writes under the referral's ids: read in one round trip up front."""
    return [
        *ids.by_entry.values(),
        ("Patient", ids.patient),
        ("Task", referral_task_id(ids.referral)),
        ("GuidanceResponse", guidance_id(ids.referral)),
        ("CarePlan", careplan_id(ids.referral)),
    ]


def _as_stored(en: Entry, ids: _Ids) -> dict[str, Any]:
    """An entry as it is stored: its id, and its references pointing at what they point at here; a
    sender's copy refers to the record it is a copy of (Patient.link type `refer`)."""
    body: dict[str, Any] = retarget(copy.deepcopy(en.resource), ids.references)
    body["id"] = ids.by_entry[en.index][1]
    if en.index in ids.copies:
        record = {"other": {"reference": f"Patient/{ids.copies[en.index]}"}, "type": "refer"}
        body["link"] = [*(x for x in body.get("link", []) if x != record), record]
    return body


def _client_record(s: Session, referral: Referral, ids: _Ids) -> Write | None:
    """The JGZ's record of her, made from the first referral that names her (it takes over what that
    referrer sent, then); after that only the JGZ changes it: what a referrer sends stays in its copy."""
    if referral.patient.index not in ids.copies:
        return None
    current = s.get("Patient", ids.patient)
    if current is not None and not current.deleted:
        return None
    body: dict[str, Any] = retarget(copy.deepcopy(referral.patient.resource), ids.references)
    return s.put({**body, "id": ids.patient})


def _write_decision(s: Session, referral: Referral, decision: Decision, ids: _Ids, when: str) -> Write:
    body = to_guidance_response(
        decision,
        response_id=guidance_id(ids.referral),
        patient_ref=ids.patient_ref,
        referral_identifier=referral.referral_identifier,
        when=when,
    )
    return s.put(_keep_stamps(s, body, ("occurrenceDateTime",)))


def _write_task(s: Session, referral: Referral, decision: Decision, ids: _Ids, when: str) -> Write:
    """The referral's Task, moved by the decision: the sender's own Task when it sent one, else ours."""
    task_id = referral_task_id(ids.referral)
    base = _as_stored(referral.task, ids) if referral.task is not None else _new_task(referral, ids)
    base["id"] = task_id
    body = apply_to_task(base, decision, f"GuidanceResponse/{guidance_id(ids.referral)}", when)
    current = s.get("Task", task_id)
    if current is not None and not current.deleted:
        body = _respect_progress(current.content, body)
    return s.put(_keep_stamps(s, body, ("lastModified",)))


def _new_task(referral: Referral, ids: _Ids) -> dict[str, Any]:
    sr = referral.service_request.resource
    return {
        "resourceType": "Task",
        "status": "requested",
        "intent": "order",
        "meta": {"profile": [REFERRAL_TASK_PROFILE]},
        "code": concept("voorzorg-referral-item", "voorzorg-referral"),
        "focus": {"reference": f"ServiceRequest/{ids.referral}"},
        "for": {"reference": ids.patient_ref},
        "authoredOn": sr["authoredOn"],
        "requester": retarget(copy.deepcopy(sr["requester"]), ids.references),
    }


def _first_identifier(en: Entry) -> tuple[str, str] | None:
    for ident in en.resource.get("identifier", []):
        if ident.get("system") and ident.get("value"):
            return str(ident["system"]), str(ident["value"])
    return None


def _code_key(en: Entry) -> str:
    code = en.resource.get("code")
    codings = code.get("coding", []) if isinstance(code, dict) else []
    if codings:
        return f"{codings[0].get('system', '')}|{codings[0].get('code', '')}"
    return "-"


def _keep_stamps(s: Session, body: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    """Keep the stored timestamps when nothing else changed, so a resend makes no new version."""
    current = s.get(body["resourceType"], body["id"])
    if current is None:
        return body
    candidate = {**body, **{f: current.content[f] for f in fields if f in current.content}}
    return candidate if same_content(candidate, current.content) else body


def _referral_resources(s: Session, previous: Stored | None) -> set[str]:
    """What the earlier submission of this referral held: its supporting resources and panel members."""
    if previous is None:
        return set()
    refs = {i.get("reference", "") for i in previous.content.get("supportingInfo", [])}
    for ref in list(refs):
        member = s.live(ref)
        if member is not None:
            refs |= {m.get("reference", "") for m in member.content.get("hasMember", [])}
    return {r for r in refs if r.count("/") == 1}


def _respect_progress(current: dict[str, Any], proposed: dict[str, Any]) -> dict[str, Any]:
    """A resend re-decides, but does not take the Task back from where the recipient moved it.

    When the state machine does not allow the move from the current status to the decided one, or the
    nurse already started (`STARTED`: a resend never takes in-progress back to on-hold), the Task keeps
    its status; the new decision is still kept in the GuidanceResponse the Task points to.
    """
    old, new = current.get("status"), proposed.get("status")
    if old == new or (old not in STARTED and new in task_transitions().get(str(old), [])):
        return proposed
    kept = {k: v for k, v in current.items() if k != "meta"}
    kept["output"] = proposed["output"]
    return kept
