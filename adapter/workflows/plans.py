"""The care plan after intake: `PlanDefinition/$apply`, VoorZorg Verder, and completion at age 2.

`$apply` is the FHIR way to ask for a client's plan of a track. Intake already applies the track's
PlanDefinition when it accepts a referral, so `$apply` answers that same stored CarePlan (making it
when it is missing), never a second one; it refuses a track her referral was not accepted for, since a
track changes only through a new decision (a consult's advice). Applying the VoorZorg Verder
PlanDefinition starts the continuation: a new CarePlan that `replaces` and is `basedOn` the plan that
ends at the child's 2nd birthday. Completion is a scheduled sweep (`voorzorg-adapter careplans
complete-due`, e.g. daily from cron): a plan whose period has ended is completed, and so is its
referral Task: her programme ends with reason completed (`adapter.workflows.programme.complete`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from adapter.data import task_transitions, visit_schedule
from adapter.domain.eligibility import Decision, Track
from adapter.domain.visitplan import continuation
from adapter.fhir.dates import now_instant
from adapter.fhir.outcome import FhirError
from adapter.mapping.careplan_out import careplan_track, visit_plan_of
from adapter.mapping.decision_out import task_track
from adapter.mapping.ids import careplan_id, referral_task_id, verder_plan_id
from adapter.security.access import Viewer
from adapter.store.engine import Store
from adapter.store.session import Alternative, Match, Session, Stored, Write
from adapter.workflows import programme
from adapter.workflows.birth import reported_birth
from adapter.workflows.careplan import (
    careplan_body,
    plan_rules,
    revise_plan,
    stored_facts,
)

PLAN_DEFINITION_PREFIX = "voorzorg-plan-"
#: Referral Task statuses in which the referral has been accepted for a track
_ACCEPTED = ("accepted", "in-progress")
_RUNNING = ("active", "on-hold")


@dataclass(frozen=True)
class Applied:
    careplan: Stored
    created: bool


def track_of_plan_definition(plan_definition_id: str) -> Track:
    try:
        if not plan_definition_id.startswith(PLAN_DEFINITION_PREFIX):
            raise ValueError
        return Track(plan_definition_id.removeprefix(PLAN_DEFINITION_PREFIX))
    except ValueError:
        raise FhirError.one(
            404, f"PlanDefinition/{plan_definition_id} is not known", code="not-found"
        ) from None


def apply_plan_definition(store: Store, viewer: Viewer, plan_definition_id: str, subject: str) -> Applied:
    """The client's CarePlan of the PlanDefinition's track (made when missing), or 422 saying why not."""
    track = track_of_plan_definition(plan_definition_id)

    def work(s: Session) -> Applied:
        _subject(s, viewer, subject)
        if track is Track.VOORZORG_VERDER:
            return _start_verder(s, subject)
        referral_id = _accepted_referral(s, subject, track)
        current = s.get("CarePlan", careplan_id(referral_id))
        if current is not None and not current.deleted and current.content.get("status") in _RUNNING:
            return Applied(current, False)
        written = revise_plan(s, referral_id, Decision(track), task_status="accepted")
        assert written is not None  # an accepted VoorZorg track always has a plan
        return Applied(written.stored, written.created)

    return store.write(work)


def _subject(s: Session, viewer: Viewer, subject: str) -> None:
    """The client the plan is for: a Patient the caller may see; else 422 naming the parameter."""
    patient = s.live(subject)
    if patient is None or patient.res_type != "Patient" or not viewer.sees(s, patient):
        raise FhirError.one(
            422, f"{subject} is not a known Patient", "Parameters.parameter[subject]", code="not-found"
        )


def _accepted_referral(s: Session, subject: str, track: Track) -> str:
    """Her newest referral accepted for `track`; 422 naming `subject` when there is none."""
    decided = []
    for sr in _referrals(s, subject):
        task = s.get("Task", referral_task_id(sr.res_id))
        if task is None or task.deleted:
            continue
        decided_track = task_track(task.content)
        status = task.content.get("status")
        if status in _ACCEPTED and decided_track == track.value:
            return sr.res_id
        decided.append(f"{sr.reference}: {status}, {decided_track or 'no track'}")
    why = "; ".join(decided) if decided else "she has no referral"
    raise FhirError.one(
        422,
        f"{subject} has no referral accepted for {track.value} ({why}); "
        "a track changes only through a new decision on the referral",
        "Parameters.parameter[subject]",
        code="business-rule",
    )


def _referrals(s: Session, subject: str) -> list[Stored]:
    patient = s.get(*subject.split("/", 1)) if subject.count("/") == 1 else None
    if patient is None or patient.deleted or patient.res_type != "Patient":
        raise FhirError.one(
            422, f"{subject} is not a known Patient", "Parameters.parameter[subject]", code="not-found"
        )
    _, found = s.search("ServiceRequest", [Match("patient", (Alternative(value=subject),))], 100, 0, True)
    return found


def _start_verder(s: Session, subject: str) -> Applied:
    """VoorZorg Verder after her plan: made once (a second $apply answers the same plan)."""
    previous = _plan_to_continue(s, subject)
    vid = verder_plan_id(previous.res_id)
    existing = s.get("CarePlan", vid)
    if existing is not None and not existing.deleted:
        return Applied(existing, False)
    referral_id = previous.content["supportingInfo"][0]["reference"].split("/", 1)[1]
    schedule = visit_schedule()
    facts = stored_facts(s, referral_id)
    ended = visit_plan_of(
        previous.content,
        facts.expected_birth(schedule.full_term_days),
        reported_birth(s, previous.content, referral_id),
    )
    with plan_rules():
        verder = continuation(ended, schedule=schedule)
    body = careplan_body(verder, vid, previous.content["subject"]["reference"], referral_id)
    body["basedOn"] = [{"reference": previous.reference}]
    body["replaces"] = [{"reference": previous.reference}]
    written = s.put(body)
    return Applied(written.stored, True)


def _plan_to_continue(s: Session, subject: str) -> Stored:
    """Her newest VoorZorg plan (running, or completed at the child's 2nd birthday)."""
    plans = []
    for sr in _referrals(s, subject):
        plan = s.get("CarePlan", careplan_id(sr.res_id))
        if plan is not None and not plan.deleted and plan.content.get("status") in (*_RUNNING, "completed"):
            plans.append(plan)
    if not plans:
        raise FhirError.one(
            422,
            f"{subject} has no VoorZorg care plan to continue with VoorZorg Verder",
            "Parameters.parameter[subject]",
            code="business-rule",
        )
    return max(plans, key=lambda p: p.content["period"]["end"])


def complete_due(store: Store, today: date) -> list[str]:
    """Complete every running plan whose period ended before `today`, and its referral Task.

    Returns the references of the completed plans. Safe to run as often as wanted (cron, daily).
    """

    def work(s: Session) -> list[str]:
        done = []
        for plan in _all(s, "CarePlan", [Match("status", tuple(Alternative(value=st) for st in _RUNNING))]):
            if date.fromisoformat(plan.content["period"]["end"][:10]) >= today:
                continue
            done.append(plan.reference)
            if programme.complete(s, plan):  # her programme ends, reason completed (the same path)
                continue
            s.put({**plan.content, "status": "completed"})
            if careplan_track(plan.content) is not Track.VOORZORG_VERDER:
                _complete_referral_task(s, plan.content)
        return done

    return store.write(work)


def _all(s: Session, res_type: str, matches: list[Match], page: int = 500) -> list[Stored]:
    out: list[Stored] = []
    while True:
        total, found = s.search(res_type, matches, page, len(out))
        out += found
        if not found or len(out) >= total:
            return out


def _complete_referral_task(s: Session, plan: dict[str, Any]) -> Write | None:
    """The referral is done when its plan is: the Task goes to completed (through in-progress)."""
    referral_id = plan["supportingInfo"][0]["reference"].split("/", 1)[1]
    task = s.get("Task", referral_task_id(referral_id))
    if task is None or task.deleted:
        return None
    content, written = dict(task.content), None
    for step in ("in-progress", "completed"):
        status = content.get("status")
        if status == step or step not in task_transitions().get(str(status), []):
            continue
        content = {**content, "status": step, "lastModified": now_instant()}
        written = s.put(content)
    return written
