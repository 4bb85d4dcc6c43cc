"""The intake visit: the nurse's first home visit, its findings, and the referral decided again.

`POST /ServiceRequest/{id}/$intake-visit` with the visit (an Encounter, profile voorzorg-intake-visit)
and its findings (Observations, profile voorzorg-intake-finding): voluntariness, a (felt) forced
framework, serious parenting problems with earlier children, parity, the pregnancy dating, and the
client's own yes or no. In one transaction:

1. the visit and its findings are stored under ids derived from the referral (recording the visit again
   corrects it: findings it no longer has are deleted); each finding points to the visit and the referral;
2. the findings outrank the referrer's report (`adapter.workflows.findings`), and the referral is decided
   again with the same rules: the decision (GuidanceResponse), the referral Task, the care plan, and a
   consult request where the rules say so (a forced framework found -> VoorZorg Consult);
3. her no ends the programme (reason client-choice) before it started; otherwise her programme follows
   (`adapter.workflows.programme.follow`): enrolled on the date of the visit when the referral is accepted
   for a VoorZorg track, the Task in-progress, the visit counted as the plan's first.
The sender hears of it through the outbox (the referral Task), as after intake.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import date
from typing import Any

from adapter.config import Settings
from adapter.data import eligibility_rules, referral_codes, task_transitions
from adapter.domain.eligibility import Decision, decide
from adapter.domain.facts import Deployment
from adapter.domain.programme import EndingReason
from adapter.fhir.dates import now_instant
from adapter.fhir.models import check_structure
from adapter.fhir.outcome import FhirError, Issue
from adapter.fhir.validator import validate
from adapter.mapping.decision_out import apply_to_task, to_guidance_response
from adapter.mapping.ids import (
    careplan_id,
    guidance_id,
    intake_finding_id,
    intake_visit_id,
    is_referral_id,
    programme_id,
    referral_task_id,
)
from adapter.mapping.intake_in import (
    FINDING_PROFILE,
    INTAKE_VISIT_PROFILE,
    finding_item,
    finding_value,
    visit_date,
)
from adapter.mapping.programme_out import FINAL, read_programme
from adapter.security.access import Viewer
from adapter.store.engine import Store
from adapter.store.session import Session, Stored, Write, same_content
from adapter.workflows import consult
from adapter.workflows.careplan import plan_at_intake, stored_facts
from adapter.workflows.programme import end_programme, follow

VISIT = "Parameters.parameter[0].resource"


@dataclass(frozen=True)
class IntakeRequest:
    """The visit and its findings as the request holds them, each with where it sits."""

    visit: dict[str, Any]
    findings: list[tuple[str, str, dict[str, Any]]]  # (item, FHIRPath of the resource, Observation)

    @property
    def on(self) -> date:
        day = visit_date(self.visit)
        assert day is not None  # checked when read
        return day

    @property
    def takes_part(self) -> bool | None:
        for item, _, obs in self.findings:
            if item == "takes_part":
                value: bool | None = obs.get("valueBoolean")
                return value
        return None


@dataclass(frozen=True)
class IntakeRecorded:
    encounter: Write
    findings: list[Write]
    decision: Decision
    guidance: Stored
    task: Stored
    careplan: Stored | None
    programme: Stored | None
    consult: list[Write]
    patient: str


def read_request(body: dict[str, Any], referral_id: str) -> IntakeRequest:
    """The Parameters of `$intake-visit`: `visit` (Encounter) first, then `finding` (Observation)*;
    400 for the wrong shape, 422 naming each element that breaks the profiles."""
    if body.get("resourceType") != "Parameters":
        raise FhirError.one(
            400, "$intake-visit takes a Parameters resource (visit, finding*)", "resourceType"
        )
    if not is_referral_id(referral_id):
        raise FhirError.one(404, f"ServiceRequest/{referral_id} is not known", code="not-found")
    check_structure(body)
    params = body.get("parameter", [])
    if not params or params[0].get("name") != "visit" or not isinstance(params[0].get("resource"), dict):
        raise FhirError.one(
            400, "The first parameter is `visit`: the intake visit as an Encounter", "Parameters.parameter[0]"
        )
    visit = copy.deepcopy(params[0]["resource"])
    ref = f"ServiceRequest/{referral_id}"
    issues: list[Issue] = []
    if [b.get("reference") for b in visit.get("basedOn", [])] not in ([], [ref]):
        issues.append(Issue(f"The intake visit is based on {ref}", (f"{VISIT}.basedOn",), "value"))
    visit["basedOn"] = [{"reference": ref}]
    issues += _checked(visit, "Encounter", INTAKE_VISIT_PROFILE, VISIT)
    findings = []
    seen: dict[str, Any] = {}
    for i, p in enumerate(params[1:], start=1):
        where = f"Parameters.parameter[{i}].resource"
        finding = _finding(p, i, referral_id, issues)
        if finding is None:
            continue
        item, obs = finding
        value = finding_value(item, obs, visit_date(visit) or date.min)
        if value is None:
            issues.append(
                Issue(
                    f"The finding {item.replace('_', ' ')} has no usable value", (f"{where}.value",), "value"
                )
            )
        elif item in seen and seen[item] != value:
            issues.append(
                Issue(f"Two different values for {item.replace('_', ' ')}", (where,), "business-rule")
            )
        seen[item] = value
        issues += _checked(obs, "Observation", FINDING_PROFILE, where)
        findings.append((item, where, obs))
    if issues:
        raise FhirError(422 if all(i.code != "structure" for i in issues) else 400, issues)
    return IntakeRequest(visit, findings)


def _finding(
    p: dict[str, Any], i: int, referral_id: str, issues: list[Issue]
) -> tuple[str, dict[str, Any]] | None:
    where = f"Parameters.parameter[{i}]"
    obs = p.get("resource")
    if p.get("name") != "finding" or not isinstance(obs, dict) or obs.get("resourceType") != "Observation":
        issues.append(Issue("Each further parameter is a `finding`: an Observation", (where,), "structure"))
        return None
    obs = copy.deepcopy(obs)
    item = finding_item(obs)
    if item is None:
        issues.append(
            Issue(
                "Not a finding of the intake visit (see ValueSet voorzorg-intake-finding-code)",
                (f"{where}.resource.code",),
                "code-invalid",
            )
        )
        return None
    links = {
        "encounter": {"reference": f"Encounter/{intake_visit_id(referral_id)}"},
        "basedOn": [{"reference": f"ServiceRequest/{referral_id}"}],
    }
    for element, wanted in links.items():
        given = obs.get(element)
        if given is not None and given != wanted:
            issues.append(
                Issue(
                    f"A finding of this intake visit points to it and its referral: {wanted}",
                    (f"{where}.resource.{element}",),
                    "value",
                )
            )
        obs[element] = wanted
    return item, obs


def _checked(resource: dict[str, Any], rtype: str, profile: str, where: str) -> list[Issue]:
    if resource.get("resourceType") != rtype:
        return [Issue(f"A {rtype} is expected here", (f"{where}.resourceType",), "structure")]
    resource.setdefault("meta", {}).setdefault("profile", [])
    if profile not in resource["meta"]["profile"]:
        resource["meta"]["profile"].append(profile)
    out = []
    for issue in validate(resource, profile):
        if issue.severity in ("error", "fatal"):
            named = tuple(where + e[len(rtype) :] if e.startswith(rtype) else e for e in issue.expression)
            out.append(Issue(issue.diagnostics, named or (where,), issue.code))
    return out


# --- the unit of work ------------------------------------------------------------------------------
def record_intake_visit(
    store: Store, viewer: Viewer, referral_id: str, request: IntakeRequest, deployment: Deployment | None
) -> IntakeRecorded:
    """Store the visit and its findings, decide again, and let her programme follow: one transaction."""

    def work(s: Session) -> IntakeRecorded:
        referral = _referral(s, viewer, referral_id)
        patient = str(referral.content["subject"]["reference"])
        _hers(request, patient)
        current = s.live(f"EpisodeOfCare/{programme_id(referral_id)}")
        if current is not None and read_programme(current.content).status in FINAL:
            raise FhirError.one(
                409,
                "Her programme has ended: there is no intake visit to record",
                "EpisodeOfCare.status",
                code="business-rule",
            )
        encounter, findings = _store_visit(s, referral_id, request)
        decided = _decide_again(s, referral_id, referral, deployment)
        organization = deployment.organization if deployment and deployment.organization else None
        if request.takes_part is False:
            end_programme(
                s,
                referral_id,
                EndingReason.CLIENT_CHOICE,
                request.on,
                text="She said no at the intake visit",
                organization=organization,
                element=f"{VISIT}.period.start",
            )
        programme = follow(s, referral_id, organization)
        task = s.live(f"Task/{referral_task_id(referral_id)}")
        assert task is not None
        plan = s.live(f"CarePlan/{careplan_id(referral_id)}")
        return IntakeRecorded(
            encounter,
            findings,
            decided.decision,
            decided.guidance,
            task,
            plan,
            programme,
            decided.consult,
            patient,
        )

    return store.write(work)


def _referral(s: Session, viewer: Viewer, referral_id: str) -> Stored:
    referral = viewer.found(s, f"ServiceRequest/{referral_id}", "The referral")
    codes = [c.get("code") for c in (referral.content.get("code") or {}).get("coding", [])]
    if "voorzorg-referral" not in codes:
        raise FhirError.one(404, f"ServiceRequest/{referral_id} is no VoorZorg referral", code="not-found")
    return referral


def _hers(request: IntakeRequest, patient: str) -> None:
    """An intake visit, and each of its findings, is about the client the referral is for."""
    issues = []
    if (request.visit.get("subject") or {}).get("reference") != patient:
        issues.append(
            Issue(
                f"The referral is for {patient}: the intake visit is not hers",
                (f"{VISIT}.subject",),
                "business-rule",
            )
        )
    for _, where, obs in request.findings:
        if (obs.get("subject") or {}).get("reference") != patient:
            issues.append(
                Issue(
                    f"The referral is for {patient}: this finding is not hers",
                    (f"{where}.subject",),
                    "business-rule",
                )
            )
    if issues:
        raise FhirError(422, issues)


def _store_visit(s: Session, referral_id: str, request: IntakeRequest) -> tuple[Write, list[Write]]:
    vid = intake_visit_id(referral_id)
    encounter = s.put({**request.visit, "id": vid})
    kept = {intake_finding_id(referral_id, item) for item, _, _ in request.findings}
    for earlier in s.find("Observation", encounter=f"Encounter/{vid}"):
        if earlier.res_id not in kept:  # recorded again without it: the earlier finding goes
            s.delete("Observation", earlier.res_id)
    findings = [
        s.put({**obs, "id": intake_finding_id(referral_id, item)}) for item, _, obs in request.findings
    ]
    return encounter, findings


@dataclass(frozen=True)
class _Decided:
    decision: Decision
    guidance: Stored
    consult: list[Write]


def _decide_again(s: Session, referral_id: str, referral: Stored, deployment: Deployment | None) -> _Decided:
    """The referral decided with the same rules on the facts the intake visit confirmed."""
    facts = stored_facts(s, referral_id)  # with the findings in place of the referrer's report
    _plausible(facts.gestational_age_days(eligibility_rules().full_term_days))
    chosen = deployment or Deployment(Settings().trained_modules)
    decision = consult.decision_at_intake(s, referral_id, facts, decide(facts, eligibility_rules(), chosen))
    when = now_instant()
    patient = str(referral.content["subject"]["reference"])
    ident = referral.content["identifier"][0]
    gref = f"GuidanceResponse/{guidance_id(referral_id)}"
    guidance = _put_unless_same(
        s,
        to_guidance_response(
            decision,
            response_id=guidance_id(referral_id),
            patient_ref=patient,
            referral_identifier=(str(ident["system"]), str(ident["value"])),
            when=when,
        ),
        "occurrenceDateTime",
    )
    task = _move_task(s, referral_id, decision, gref, when)
    plan_at_intake(
        s,
        facts=facts,
        decision=decision,
        task_status=str(task.content["status"]),
        referral_id=referral_id,
        patient_ref=patient,
        guidance_ref=gref,
    )
    asked = consult.after_intake(s, referral_id, patient, facts, decision, deployment, when)
    return _Decided(decision, guidance.stored, asked)


def _plausible(ga: int | None) -> None:
    lo, hi = referral_codes()["plausible_gestational_age_days"]
    if ga is not None and not lo <= ga <= hi:
        raise FhirError.one(
            422,
            f"The pregnancy dating gives a gestational age of {ga} days at the referral date, "
            f"outside {lo}-{hi}: check the date",
            "Parameters.parameter.where(name='finding').resource.value",
            code="value",
        )


def _move_task(s: Session, referral_id: str, decision: Decision, guidance_ref: str, when: str) -> Stored:
    """The referral Task after the new decision; where its state machine does not allow the move (she is
    enrolled already: in-progress), it keeps its status and takes the new decision as output."""
    current = s.live(f"Task/{referral_task_id(referral_id)}")
    if current is None:
        raise FhirError.one(409, "The referral has no Task", code="business-rule")
    proposed = apply_to_task(current.content, decision, guidance_ref, when)
    old, new = current.content.get("status"), proposed["status"]
    if old != new and new not in task_transitions().get(str(old), []):
        proposed = {**current.content, "output": proposed["output"], "lastModified": when}
    return _put_unless_same(s, proposed, "lastModified").stored


def _put_unless_same(s: Session, body: dict[str, Any], stamp: str) -> Write:
    """Put, keeping the stored timestamp when nothing else changed (recording the visit again is harmless)."""
    current = s.get(body["resourceType"], body["id"])
    if current is not None and stamp in current.content:
        candidate = {**body, stamp: current.content[stamp]}
        if same_content(candidate, current.content):
            body = candidate
    return s.put(body)
