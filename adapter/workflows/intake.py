"""Intake of a referral: read the Bundle, decide, store it all in one transaction, move the Task.

Resending the same referral (same ServiceRequest identifier) re-decides and updates in place: the
client is found by BSN and the referral by its identifier (unique business keys in the store), and
every other resource of the referral gets an id derived from the referral and its role, so nothing is
ever stored twice. Resources the earlier submission had and this one lacks are deleted.
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass
from typing import Any

from adapter.config import CANONICAL_BASE
from adapter.data import eligibility_rules, referral_codes, task_transitions
from adapter.domain.eligibility import Decision, decide
from adapter.domain.facts import Deployment
from adapter.fhir.dates import now_instant
from adapter.fhir.outcome import FhirError
from adapter.fhir.references import retarget
from adapter.mapping.decision_out import apply_to_task, concept, to_guidance_response
from adapter.mapping.referral_in import Entry, Referral, read_referral
from adapter.store.engine import Store
from adapter.store.session import Session, Stored, Write, new_id, same_content
from adapter.workflows import consult
from adapter.workflows.careplan import plan_at_intake

#: Identifier systems whose holders are shared between referrals (the same practice, the same person).
_SHARED_KEYS = {"Organization", "Practitioner", "PractitionerRole"}


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

    @property
    def shared_with_sender(self) -> list[Write]:
        """What the referring organisation may see: its referral's parts, the Task, decision and plan."""
        return [*self.writes, self.task, self.guidance, *([self.careplan] if self.careplan else [])]

    @property
    def touched(self) -> list[Write]:
        """Everything intake wrote, for its AuditEvent (NEN 7513 lists every resource a request touched)."""
        return [*self.shared_with_sender, *self.consult]


def check_eligibility(bundle: dict[str, Any], deployment: Deployment) -> Decision:
    """The decision alone: nothing is stored."""
    return decide(read_referral(bundle).facts, eligibility_rules(), deployment)


def referral_bundle(body: dict[str, Any]) -> dict[str, Any]:
    """The referral Bundle of a `$check-eligibility` body: the Bundle itself, or Parameters.referral."""
    if body.get("resourceType") != "Parameters":
        return body
    found = [p for p in body.get("parameter", []) if p.get("name") == "referral"]
    if len(found) != 1 or not isinstance(found[0].get("resource"), dict):
        raise FhirError.one(
            400,
            "Parameters must hold exactly one parameter 'referral' with the referral Bundle as resource",
            "Parameters.parameter",
            code="required",
        )
    resource: dict[str, Any] = found[0]["resource"]
    return resource


def intake(store: Store, bundle: dict[str, Any], deployment: Deployment) -> IntakeResult:
    return intake_referral(store, read_referral(bundle), deployment)


def intake_referral(store: Store, referral: Referral, deployment: Deployment) -> IntakeResult:
    """Decide and store a referral that already passed the contract (and the caller's rights)."""
    decision = decide(referral.facts, eligibility_rules(), deployment)
    return store.write(lambda session: _store(session, referral, decision, deployment))


def _store(
    s: Session, referral: Referral, decision: Decision, deployment: Deployment | None = None
) -> IntakeResult:
    systems = referral_codes()["systems"]
    patient_id = s.claim_key("Patient", systems["bsn"], referral.bsn, new_id())
    sr_system, sr_value = referral.referral_identifier
    sr_id = s.claim_key("ServiceRequest", sr_system, sr_value, new_id())
    namespace = uuid.UUID(sr_id)
    earlier = _referral_resources(s, s.get("ServiceRequest", sr_id))
    decision = consult.decision_at_intake(s, sr_id, referral.facts, decision)  # an accepted advice holds

    ids: dict[int, tuple[str, str]] = {}
    seen: dict[str, int] = {}
    for en in referral.entries:
        if en is referral.patient:
            rid = patient_id
        elif en is referral.service_request:
            rid = sr_id
        elif en is referral.task:
            rid = str(uuid.uuid5(namespace, "Task"))
        elif en.type in _SHARED_KEYS and _first_identifier(en):
            system, value = _first_identifier(en)  # type: ignore[misc]
            rid = s.claim_key(en.type, system, value, new_id())
        else:
            role = f"{en.type}/{referral.items.get(en.index) or _code_key(en)}"
            seen[role] = seen.get(role, 0) + 1
            rid = str(uuid.uuid5(namespace, f"{role}/{seen[role]}"))
        ids[en.index] = (en.type, rid)

    refs: dict[str, str] = {}
    for en in referral.entries:
        target = "/".join(ids[en.index])
        if en.full_url:
            refs[en.full_url] = target
        if en.resource.get("id"):
            refs[f"{en.type}/{en.resource['id']}"] = target

    when = now_instant()
    writes: list[Write] = []
    task_write: Write | None = None
    for en in referral.entries:
        body = retarget(copy.deepcopy(en.resource), refs)
        body["id"] = ids[en.index][1]
        if en is referral.task:
            continue  # written below, after the decision
        writes.append(s.put(body, method="PUT"))

    patient_ref, sr_ref = f"Patient/{patient_id}", f"ServiceRequest/{sr_id}"
    guidance_id = str(uuid.uuid5(namespace, "GuidanceResponse"))
    guidance_body = to_guidance_response(
        decision,
        response_id=guidance_id,
        patient_ref=patient_ref,
        referral_identifier=referral.referral_identifier,
        when=when,
    )
    guidance = s.put(_keep_stamps(s, guidance_body, ("occurrenceDateTime",)))

    task_id = ids[referral.task.index][1] if referral.task is not None else str(uuid.uuid5(namespace, "Task"))
    if referral.task is not None:
        base_task = retarget(copy.deepcopy(referral.task.resource), refs)
    else:
        sr = referral.service_request.resource
        base_task = {
            "resourceType": "Task",
            "status": "requested",
            "intent": "order",
            "meta": {"profile": [f"{CANONICAL_BASE}/StructureDefinition/voorzorg-referral-task"]},
            "code": concept("voorzorg-referral-item", "voorzorg-referral"),
            "focus": {"reference": sr_ref},
            "for": {"reference": patient_ref},
            "authoredOn": sr["authoredOn"],
            "requester": retarget(copy.deepcopy(sr["requester"]), refs),
        }
    base_task["id"] = task_id
    task_body = apply_to_task(base_task, decision, f"GuidanceResponse/{guidance_id}", when)
    current_task = s.get("Task", task_id)
    if current_task is not None and not current_task.deleted:
        task_body = _respect_progress(current_task.content, task_body)
    task_write = s.put(_keep_stamps(s, task_body, ("lastModified",)))
    if referral.task is not None:
        writes.insert(referral.entries.index(referral.task), task_write)

    careplan = plan_at_intake(
        s,
        facts=referral.facts,
        decision=decision,
        task_status=task_write.stored.content["status"],
        referral_id=sr_id,
        patient_ref=patient_ref,
        guidance_ref=f"GuidanceResponse/{guidance_id}",
    )
    for ref in earlier - {"/".join(v) for v in ids.values()}:
        s.delete(*ref.split("/", 1))
    # The consult request, made, updated or cancelled (not granted to the sender: it is the JGZ's question).
    asked = consult.after_intake(s, sr_id, patient_ref, referral.facts, decision, deployment, when)
    result = IntakeResult(
        referral,
        decision,
        writes,
        task_write,
        guidance,
        referral.task is not None,
        patient_ref,
        careplan,
        tuple(asked),
    )
    for w in result.shared_with_sender:
        for organization in referral.requester_organizations:
            s.grant(w.stored.res_type, w.stored.res_id, organization)
    return result


def _first_identifier(en: Entry) -> tuple[str, str] | None:
    for ident in en.resource.get("identifier", []):
        if ident.get("system") and ident.get("value"):
            return str(ident["system"]), str(ident["value"])
    return None


def _code_key(en: Entry) -> str:
    codings = (
        en.resource.get("code", {}).get("coding", []) if isinstance(en.resource.get("code"), dict) else []
    )
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
        member = s.get(*ref.split("/", 1)) if ref.count("/") == 1 else None
        if member is not None:
            refs |= {m.get("reference", "") for m in member.content.get("hasMember", [])}
    return {r for r in refs if r.count("/") == 1}


def _respect_progress(current: dict[str, Any], proposed: dict[str, Any]) -> dict[str, Any]:
    """A resend re-decides, but does not take the Task back from where the recipient moved it.

    When the state machine does not allow the move from the current status to the decided one (the
    nurse already started: in-progress -> accepted), the Task keeps its status; the new decision is
    still kept in the GuidanceResponse the Task points to.
    """
    old, new = current.get("status"), proposed.get("status")
    if old == new or new in task_transitions().get(str(old), []):
        return proposed
    kept = {k: v for k, v in current.items() if k != "meta"}
    kept["output"] = proposed["output"]
    return kept
