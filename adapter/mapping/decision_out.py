"""Decision -> FHIR: the `$check-eligibility` Parameters, the GuidanceResponse kept at intake, and the
status the referral Task moves to."""

from __future__ import annotations

from typing import Any

from adapter.config import CANONICAL_BASE
from adapter.data import codesystem_codes, eligibility_rules, own_system, path_rules, task_status_rules
from adapter.domain.eligibility import Decision, Track
from adapter.domain.programme import PathStatus, after_decision

TRACK_SYSTEM = "voorzorg-track"
ITEM_SYSTEM = "voorzorg-referral-item"
PATH_SYSTEM = "voorzorg-path-status"
REASON_SYSTEM = "voorzorg-decision-reason"
DECISION_OPERATION = f"{CANONICAL_BASE}/OperationDefinition/check-eligibility"


def coding(codesystem_id: str, code: str) -> dict[str, Any]:
    out = {"system": own_system(codesystem_id), "code": code}
    display = codesystem_codes(codesystem_id).get(code)
    if display:
        out["display"] = display
    return out


def concept(codesystem_id: str, code: str) -> dict[str, Any]:
    return {"coding": [coding(codesystem_id, code)]}


def to_parameters(decision: Decision) -> dict[str, Any]:
    params: list[dict[str, Any]] = [
        {"name": "track", "valueCoding": coding(TRACK_SYSTEM, decision.track.value)}
    ]
    params += [{"name": "reason", "valueCoding": coding(REASON_SYSTEM, r.value)} for r in decision.reasons]
    if decision.evidence is not None:
        params.append({"name": "evidence", "valueCode": decision.evidence.value})
    params.append({"name": "consultRequired", "valueBoolean": decision.consult_required})
    params += [{"name": "missing", "valueString": m} for m in decision.missing]
    params += [{"name": "confirmAtIntake", "valueCoding": c} for c in to_confirm(decision)]
    if decision.gestational_age_days is not None:
        params.append({"name": "gestationalAgeDays", "valueInteger": decision.gestational_age_days})
    if decision.child_age_days is not None:
        params.append({"name": "childAgeDays", "valueInteger": decision.child_age_days})
    params.append({"name": "explanation", "valueString": decision.explanation})
    return {"resourceType": "Parameters", "parameter": params}


def to_guidance_response(
    decision: Decision, *, response_id: str, patient_ref: str, referral_identifier: tuple[str, str], when: str
) -> dict[str, Any]:
    """The decision kept with the referral; `data-required` names what is missing."""
    params = to_parameters(decision)
    params["id"] = "decision"
    out: dict[str, Any] = {
        "resourceType": "GuidanceResponse",
        "id": response_id,
        "meta": {"profile": [f"{CANONICAL_BASE}/StructureDefinition/voorzorg-eligibility-decision"]},
        "contained": [params],
        "requestIdentifier": {"system": referral_identifier[0], "value": referral_identifier[1]},
        "identifier": [
            {"system": f"{CANONICAL_BASE}/NamingSystem/eligibility-decision", "value": response_id}
        ],
        "moduleUri": DECISION_OPERATION,
        "status": "data-required" if decision.track is Track.INCOMPLETE else "success",
        "subject": {"reference": patient_ref},
        "occurrenceDateTime": when,
        "reasonCode": [concept(REASON_SYSTEM, r.value) for r in decision.reasons],
        "outputParameters": {"reference": "#decision"},
        "note": [{"text": decision.explanation}],
    }
    out["extension"] = _decision_extensions(decision)
    if decision.missing:  # data-required: what to send, each item named
        out["dataRequirement"] = [
            {"type": "Observation", "extension": [_extension("missing-item", valueString=m)]}
            for m in decision.missing
        ]
    if not out["reasonCode"]:
        del out["reasonCode"]
    return out


def to_confirm(decision: Decision) -> list[dict[str, Any]]:
    """The referral items the nurse confirms at the intake visit (not reported: none known), as Codings."""
    codes = eligibility_rules().confirmed_at_intake
    return [coding(ITEM_SYSTEM, codes.get(item, item)) for item in decision.to_confirm]


def _extension(name: str, **value: Any) -> dict[str, Any]:
    return {"url": f"{CANONICAL_BASE}/StructureDefinition/voorzorg-{name}", **value}


def _decision_extensions(decision: Decision) -> list[dict[str, Any]]:
    """The decision on the GuidanceResponse itself (profile voorzorg-eligibility-decision)."""
    out = [
        _extension("track", valueCoding=coding(TRACK_SYSTEM, decision.track.value)),
        _extension("consult-required", valueBoolean=decision.consult_required),
    ]
    if decision.evidence is not None:
        out.append(_extension("evidence", valueCoding=coding("voorzorg-evidence", decision.evidence.value)))
    out += [_extension("missing-item", valueString=m) for m in decision.missing]
    out += [_extension("confirm-at-intake", valueCoding=c) for c in to_confirm(decision)]
    if decision.gestational_age_days is not None:
        out.append(_extension("gestational-age-days", valueInteger=decision.gestational_age_days))
    if decision.child_age_days is not None:
        out.append(_extension("child-age-days", valueInteger=decision.child_age_days))
    return out


def task_status(decision: Decision) -> str:
    rules = task_status_rules()
    if decision.consult_required:
        return str(rules["when_consult_required"])
    return str(rules["by_track"][decision.track.value])


def apply_to_task(task: dict[str, Any], decision: Decision, guidance_ref: str, when: str) -> dict[str, Any]:
    """The referral Task after the decision: status, reason, and the decision as output."""
    out = dict(task)
    out["status"] = task_status(decision)
    out["businessStatus"] = business_status(after_decision(decision, path_rules()))
    out["lastModified"] = when
    if out["status"] in ("on-hold", "rejected"):
        reasons = [coding(REASON_SYSTEM, r.value) for r in decision.reasons]
        out["statusReason"] = (
            {"coding": reasons, "text": decision.explanation} if reasons else {"text": decision.explanation}
        )
    else:
        out.pop("statusReason", None)
    out["output"] = [
        {"type": {"text": "eligibility decision"}, "valueReference": {"reference": guidance_ref}},
        {"type": {"text": "track"}, "valueCodeableConcept": concept(TRACK_SYSTEM, decision.track.value)},
    ]
    return out


def business_status(status: PathStatus) -> dict[str, Any]:
    """Where she is, as the referral Task's businessStatus (Gravity SDOH / BSeR style)."""
    return concept(PATH_SYSTEM, status.value)


def task_track(task: dict[str, Any]) -> str | None:
    """The track a referral Task's decision gave (its `track` output), or None before a decision."""
    track_system = own_system(TRACK_SYSTEM)
    for out in task.get("output", []):
        for c in (out.get("valueCodeableConcept") or {}).get("coding", []):
            if c.get("system") == track_system and c.get("code"):
                return str(c["code"])
    return None
