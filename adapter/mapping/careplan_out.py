"""Visit plan -> CarePlan: one activity per planned visit, with its sequence, phase, date and status.

The CarePlan instantiates the track's PlanDefinition, names the referral (supportingInfo), and runs
from intake until the child's 2nd birthday. Sequence and phase travel as extensions on the activity
detail, so a recorded visit (Encounter) can point at its activity and the plan can be read back.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from adapter.config import CANONICAL_BASE
from adapter.data import own_system
from adapter.domain.eligibility import Track
from adapter.domain.visitplan import PlannedVisit, VisitKind, VisitPlan, VisitStatus
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


def visit_plan_of(
    careplan: dict[str, Any], expected_birth: date | None = None, actual_birth: date | None = None
) -> VisitPlan:
    """The domain's view of a stored CarePlan (for progress, re-timing and revision).

    The births are not part of the CarePlan: the expected one comes from the referral, the actual one
    from the birth report the plan names in supportingInfo.
    """
    visits = []
    for a in careplan.get("activity", []):
        ext = {e["url"]: e for e in a.get("detail", {}).get("extension", [])}
        visits.append(
            PlannedVisit(
                sequence=int(ext[SEQUENCE_EXT]["valueInteger"]),
                phase=str(ext[PHASE_EXT]["valueCode"]),
                planned_date=activity_date(a),
                purpose=a["detail"].get("description", ""),
                kind=VisitKind(ext[KIND_EXT]["valueCode"]) if KIND_EXT in ext else VisitKind.HOME_VISIT,
                status=STATUS_OF_DETAIL.get(a["detail"].get("status", ""), VisitStatus.PLANNED),
            )
        )
    period = careplan.get("period", {})
    return VisitPlan(
        track=careplan_track(careplan),
        intake_date=date.fromisoformat(period["start"][:10]),
        expected_birth=expected_birth,
        actual_birth=actual_birth,
        end_date=date.fromisoformat(period["end"][:10]),
        visits=tuple(visits),
    )


def careplan_track(careplan: dict[str, Any]) -> Track:
    return Track(
        next(
            c["code"]
            for cat in careplan.get("category", [])
            for c in cat.get("coding", [])
            if c.get("system") == own_system(TRACK_SYSTEM)
        )
    )


def evaluation_dates(careplan: dict[str, Any]) -> list[date]:
    """The agreed evaluation moments a stored CarePlan holds (activities of kind evaluation)."""
    return [
        activity_date(a)
        for a in careplan.get("activity", [])
        if any(
            e.get("url") == KIND_EXT and e.get("valueCode") == VisitKind.EVALUATION.value
            for e in a.get("detail", {}).get("extension", [])
        )
    ]


def recorded_sequences(careplan: dict[str, Any]) -> tuple[set[int], set[int]]:
    """(done, missed) planned-visit sequences of a stored CarePlan."""
    done: set[int] = set()
    missed: set[int] = set()
    for a in careplan.get("activity", []):
        seq = activity_sequence(a)
        status = STATUS_OF_DETAIL.get(a.get("detail", {}).get("status", ""))
        if seq is not None and status is VisitStatus.DONE:
            done.add(seq)
        elif seq is not None and status is VisitStatus.MISSED:
            missed.add(seq)
    return done, missed


def with_records(current: dict[str, Any], planned: dict[str, Any]) -> dict[str, Any]:
    """A newly computed plan, carrying over what the stored one holds beyond the visit plan.

    Recorded visits keep their link to the Encounter (outcomeReference); goals, extra supporting
    information (the birth report) and the plans it replaces or is based on stay.
    """
    links = {
        activity_sequence(a): a["outcomeReference"]
        for a in current.get("activity", [])
        if "outcomeReference" in a
    }
    out = dict(planned)
    out["activity"] = [
        {**a, "outcomeReference": links[seq]}
        if (seq := activity_sequence(a)) in links
        and a.get("detail", {}).get("status") != DETAIL_STATUS[VisitStatus.PLANNED]
        else a
        for a in planned.get("activity", [])
    ]
    for key in ("goal", "basedOn", "replaces", "identifier"):
        if key in current:
            out[key] = current[key]
    extra = [i for i in current.get("supportingInfo", []) if i not in planned.get("supportingInfo", [])]
    if extra:
        out["supportingInfo"] = [*planned.get("supportingInfo", []), *extra]
    return out
