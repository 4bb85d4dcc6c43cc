"""The care plan of an accepted referral: the visit plan of the track, kept as a CarePlan.

Made at intake when the Task is accepted; made again when the referral is resent, as long as no visit
has been recorded against it (after that the plan only moves through re-timing and recorded visits).
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta

from adapter.data import visit_schedule
from adapter.domain.eligibility import Decision
from adapter.domain.facts import ReferralFacts
from adapter.domain.visitplan import VisitStatus, plan
from adapter.mapping.careplan_out import DETAIL_STATUS, to_careplan
from adapter.store.repository import Session, Write


def expected_birth(facts: ReferralFacts, full_term_days: int) -> date | None:
    if facts.estimated_delivery_date is not None:
        return facts.estimated_delivery_date
    ga = facts.gestational_age_days(full_term_days)
    return facts.referral_date + timedelta(days=full_term_days - ga) if ga is not None else None


def careplan_id(referral_id: str) -> str:
    return str(uuid.uuid5(uuid.UUID(referral_id), "CarePlan"))


def plan_at_intake(
    s: Session,
    *,
    facts: ReferralFacts,
    decision: Decision,
    task_status: str,
    referral_id: str,
    patient_ref: str,
    guidance_ref: str,
) -> Write | None:
    """Store the CarePlan of an accepted referral; None when there is (still) nothing to plan.

    A plan made earlier follows a later decision that no longer accepts: on hold while the referral
    waits (consult, missing data), revoked when she turns out not to be eligible.
    """
    cid = careplan_id(referral_id)
    current = s.get("CarePlan", cid)
    if task_status != "accepted" or not decision.is_voorzorg_track:
        if current is None or current.deleted:
            return None
        return s.put({**current.content, "status": "revoked" if task_status == "rejected" else "on-hold"})
    if current is not None and not current.deleted and _has_records(current.content):
        return None
    schedule = visit_schedule()
    actual = facts.delivery_date if facts.child_born else None
    visit_plan = plan(
        decision.track,
        facts.referral_date,
        expected_birth(facts, schedule.full_term_days),
        actual,
        schedule=schedule,
    )
    body = to_careplan(
        visit_plan,
        careplan_id=cid,
        patient_ref=patient_ref,
        referral_ref=f"ServiceRequest/{referral_id}",
        guidance_ref=guidance_ref,
    )
    return s.put(body)


def _has_records(careplan: dict[str, object]) -> bool:
    recorded = {DETAIL_STATUS[VisitStatus.DONE], DETAIL_STATUS[VisitStatus.MISSED]}
    activities = careplan.get("activity", [])
    assert isinstance(activities, list)
    return any(a.get("detail", {}).get("status") in recorded for a in activities)
