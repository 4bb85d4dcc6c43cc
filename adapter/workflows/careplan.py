"""The care plan of an accepted referral: the visit plan of the track, kept as a CarePlan.

Made at intake when the Task is accepted; made again when the referral is resent, as long as no visit
has been recorded against it (after that the plan only moves through re-timing and recorded visits).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from typing import Any

from adapter.data import visit_schedule
from adapter.domain.eligibility import Decision
from adapter.domain.facts import ReferralFacts
from adapter.domain.visitplan import VisitPlan, plan, revise
from adapter.fhir.outcome import FhirError
from adapter.fhir.references import references_in
from adapter.mapping.careplan_out import (
    evaluation_dates,
    recorded_sequences,
    to_careplan,
    visit_plan_of,
    with_records,
)
from adapter.mapping.ids import careplan_id, guidance_id
from adapter.mapping.referral_in import read_referral
from adapter.store.session import Session, Write
from adapter.workflows.findings import confirmed_facts

#: Referral Task statuses past acceptance: the nurse has started. They count as accepted, and a resend
#: moves neither the Task nor its plan back (on hold) from there.
STARTED = ("ready", "in-progress", "completed")
#: CarePlan statuses intake does not reopen or hold: the plan has run its course (or was withdrawn).
_FINISHED = ("completed", "revoked", "entered-in-error")


def stored_facts(s: Session, referral_id: str) -> ReferralFacts:
    """The facts of a stored referral, read again from what intake stored (the one source of truth).

    The ServiceRequest and everything it references (transitively) are put back into a transaction
    Bundle and read by the same mapper intake used, so later steps (a consult's advice, re-timing)
    decide on exactly the facts the referral carried.
    """
    entries: dict[str, dict[str, Any]] = {}
    todo = [f"ServiceRequest/{referral_id}"]
    while todo:
        ref = todo.pop()
        if ref in entries or ref.count("/") != 1:
            continue
        found = s.get(*ref.split("/", 1))
        if found is None or found.deleted:
            continue
        entries[ref] = found.content
        todo.extend(references_in(found.content))
    if f"ServiceRequest/{referral_id}" not in entries:
        raise FhirError.one(404, f"ServiceRequest/{referral_id} is not known", code="not-found")
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"fullUrl": ref, "resource": res, "request": {"method": "PUT", "url": ref}}
            for ref, res in entries.items()
        ],
    }
    return confirmed_facts(s, referral_id, read_referral(bundle).facts)  # the intake visit outranks


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
    waits (consult, missing data), revoked when she turns out not to be eligible. A resend never moves
    it back: a started Task (`STARTED`) counts as accepted, and a finished plan stays as it is.
    """
    cid = careplan_id(referral_id)
    current = s.get("CarePlan", cid)
    if task_status in STARTED:
        if not decision.is_voorzorg_track:
            return None  # the Task keeps its progress (intake._respect_progress), and so does the plan
    elif task_status != "accepted" or not decision.is_voorzorg_track:
        return _hold(s, cid, task_status)
    kept = current.content if current is not None and not current.deleted else None
    if kept is not None and (_has_records(kept) or kept.get("status") in _FINISHED):
        return None
    return _new_plan(
        s,
        facts,
        decision,
        cid,
        referral_id,
        patient_ref,
        guidance_ref,
        evaluation_dates(kept) if kept is not None else (),  # agreed after a consult: they stay
        keep=kept,
    )


def revise_plan(
    s: Session,
    referral_id: str,
    decision: Decision,
    *,
    task_status: str,
    evaluation_moments: Sequence[date] = (),
) -> Write | None:
    """The referral's care plan after a new decision on it (a consult's advice accepted).

    There is one care plan per referral: a plan with recorded visits is revised (what was recorded
    stays, the rest follows the new track; agreed evaluation moments become activities of their own),
    a plan without records is made anew, and a decision that does not (yet) accept holds or revokes it.
    Goals linked to the plan stay linked.
    """
    cid = careplan_id(referral_id)
    if task_status != "accepted" or not decision.is_voorzorg_track:
        return _hold(s, cid, task_status)
    sr = s.get("ServiceRequest", referral_id)
    if sr is None or sr.deleted:
        raise FhirError.one(404, f"ServiceRequest/{referral_id} is not known", code="not-found")
    patient_ref = sr.content["subject"]["reference"]
    current = s.get("CarePlan", cid)
    if current is None or current.deleted or not _has_records(current.content):
        facts = stored_facts(s, referral_id)
        return _new_plan(
            s,
            facts,
            decision,
            cid,
            referral_id,
            patient_ref,
            f"GuidanceResponse/{guidance_id(referral_id)}",
            evaluation_moments,
            keep=current.content if current is not None and not current.deleted else None,
        )
    facts = stored_facts(s, referral_id)
    schedule = visit_schedule()
    visit_plan = visit_plan_of(current.content, facts.expected_birth(schedule.full_term_days))
    done, missed = recorded_sequences(current.content)
    with plan_rules():
        revised = revise(
            visit_plan,
            decision.track,
            done,
            missed_sequences=missed,
            evaluation_moments=evaluation_moments,
            schedule=schedule,
        )
    body = careplan_body(revised, cid, patient_ref, referral_id)
    return s.put(with_records(current.content, body))


@contextmanager
def plan_rules() -> Iterator[None]:
    """Dates a visit plan cannot be made of (the domain's ValueError) are a 422 saying why."""
    try:
        yield
    except ValueError as e:
        raise FhirError.one(422, str(e), code="business-rule") from None


def careplan_body(
    visit_plan: VisitPlan, cid: str, patient_ref: str, referral_id: str, guidance_ref: str | None = None
) -> dict[str, Any]:
    """The CarePlan of a referral's visit plan, naming the referral and its decision."""
    return to_careplan(
        visit_plan,
        careplan_id=cid,
        patient_ref=patient_ref,
        referral_ref=f"ServiceRequest/{referral_id}",
        guidance_ref=guidance_ref or f"GuidanceResponse/{guidance_id(referral_id)}",
    )


def _hold(s: Session, cid: str, task_status: str) -> Write | None:
    """A plan made earlier follows a decision that no longer accepts: on hold, or revoked."""
    current = s.get("CarePlan", cid)
    if current is None or current.deleted or current.content.get("status") in _FINISHED:
        return None
    return s.put({**current.content, "status": "revoked" if task_status == "rejected" else "on-hold"})


def _new_plan(
    s: Session,
    facts: ReferralFacts,
    decision: Decision,
    cid: str,
    referral_id: str,
    patient_ref: str,
    guidance_ref: str,
    evaluation_moments: Sequence[date] = (),
    keep: dict[str, Any] | None = None,
) -> Write:
    schedule = visit_schedule()
    actual = facts.delivery_date if facts.child_born else None
    with plan_rules():
        visit_plan = plan(
            decision.track,
            facts.referral_date,
            facts.expected_birth(schedule.full_term_days),
            actual,
            schedule=schedule,
            evaluation_moments=evaluation_moments,
        )
    body = careplan_body(visit_plan, cid, patient_ref, referral_id, guidance_ref)
    if keep is not None and keep.get("goal"):
        body["goal"] = keep["goal"]
    return s.put(body)


def _has_records(careplan: dict[str, Any]) -> bool:
    return any(recorded_sequences(careplan))
