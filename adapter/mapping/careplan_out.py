"""Visit plan -> CarePlan: one activity per planned visit, with its sequence, phase, date and status.

The CarePlan instantiates the track's PlanDefinition, names the referral (supportingInfo), and runs
from intake until the child's 2nd birthday. Sequence and phase travel as extensions on the activity
detail, so a recorded visit (Encounter) can point at its activity and the plan can be read back.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from adapter.config import CANONICAL_BASE
from adapter.domain.visitplan import PlannedVisit, VisitPlan, VisitStatus
from adapter.mapping.decision_out import TRACK_SYSTEM, coding, concept

SEQUENCE_EXT = f"{CANONICAL_BASE}/StructureDefinition/visit-sequence"
PHASE_EXT = f"{CANONICAL_BASE}/StructureDefinition/visit-phase"
KIND_EXT = f"{CANONICAL_BASE}/StructureDefinition/visit-kind"

#: Visit status in the plan -> CarePlan.activity.detail.status
DETAIL_STATUS = {
    VisitStatus.PLANNED: "not-started",
    VisitStatus.DONE: "completed",
    VisitStatus.MISSED: "cancelled",
}
STATUS_OF_DETAIL = {v: k for k, v in DETAIL_STATUS.items()}


def plan_definition_url(track: str) -> str:
    return f"{CANONICAL_BASE}/PlanDefinition/voorzorg-plan-{track}"


def to_careplan(
    visit_plan: VisitPlan,
    *,
    careplan_id: str,
    patient_ref: str,
    referral_ref: str,
    guidance_ref: str | None = None,
) -> dict[str, Any]:
    track = visit_plan.track.value
    out: dict[str, Any] = {
        "resourceType": "CarePlan",
        "id": careplan_id,
        "meta": {"profile": [f"{CANONICAL_BASE}/StructureDefinition/voorzorg-careplan"]},
        "instantiatesCanonical": [plan_definition_url(track)],
        "status": "active",
        "intent": "plan",
        "category": [concept(TRACK_SYSTEM, track)],
        "title": f"VoorZorg visit plan ({coding(TRACK_SYSTEM, track).get('display', track)})",
        "subject": {"reference": patient_ref},
        "period": {"start": visit_plan.intake_date.isoformat(), "end": visit_plan.end_date.isoformat()},
        "activity": [_activity(v) for v in visit_plan.visits],
    }
    # R4 CarePlan.basedOn may only name a CarePlan: the referral is the first supportingInfo.
    out["supportingInfo"] = [
        {"reference": referral_ref},
        *([{"reference": guidance_ref}] if guidance_ref else []),
    ]
    if visit_plan.adjustments:
        out["note"] = [{"text": a.note} for a in visit_plan.adjustments]
    return out


def _activity(v: PlannedVisit) -> dict[str, Any]:
    detail: dict[str, Any] = {
        "extension": [
            {"url": SEQUENCE_EXT, "valueInteger": v.sequence},
            {"url": PHASE_EXT, "valueCode": v.phase},
            {"url": KIND_EXT, "valueCode": v.kind.value},
        ],
        "kind": "Appointment",
        "code": concept("voorzorg-referral-item", "home-visit"),
        "status": DETAIL_STATUS[v.status],
        "scheduledPeriod": {"start": v.planned_date.isoformat(), "end": v.planned_date.isoformat()},
        "description": v.purpose,
    }
    return {"detail": detail}


def activity_sequence(activity: dict[str, Any]) -> int | None:
    for ext in activity.get("detail", {}).get("extension", []):
        if ext.get("url") == SEQUENCE_EXT:
            return int(ext["valueInteger"])
    return None


def activity_date(activity: dict[str, Any]) -> date:
    return date.fromisoformat(activity["detail"]["scheduledPeriod"]["start"][:10])
