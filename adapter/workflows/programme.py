"""The client's programme: enrolment, phases and ending, kept in step with her referral.

The programme is an EpisodeOfCare (profile voorzorg-programme), one per referral (`programme_id`). It is
*followed*, not edited: `follow` derives it from what the referral holds — the decision, the referral
Task, the intake visit and its findings, the care plan, the birth — and writes it when that changed:

- planned from the referral on; active (enrolled) from the date of the intake visit once she said yes
  and the referral is accepted for a VoorZorg track; cancelled when the referral closed without one;
- enrolment moves the referral Task to in-progress and counts the intake visit as the plan's first visit;
- the track, the gestational age (or the child's age) at enrolment and the phases come from the dates;
- the referral Task's businessStatus tells the sender where she is (received, decided, consult pending,
  intake planned, enrolled, ended).

`FollowPath` is one of the effects every unit of work runs (`adapter.workflows.effects`): whatever
changed her referral — intake, a resend, the intake visit, a consult's advice, a visit, a birth — her
programme follows in the same transaction, before her OZKS summary and the outbox see it.

Only `end_programme` changes it by hand: the JGZ ends it with a date and a reason (voorzorg-ending-reason)
— the EpisodeOfCare finishes (cancelled when she never enrolled), the care plan completes or is revoked
with its visits not done cancelled, the referral Task completes, open consult requests are cancelled;
the JGZ dossier, the sender and the OZKS summary hear of it through the outbox. `complete_due`
(`voorzorg-adapter careplans complete-due`) ends programmes the same way, with reason completed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from adapter.config import Settings
from adapter.data import path_rules, task_transitions, visit_schedule
from adapter.domain.eligibility import Decision, Track
from adapter.domain.programme import (
    EndingProblem,
    EndingReason,
    Enrolment,
    Path,
    PathStatus,
    PhasePeriod,
    after_decision,
    ending_problem,
    enrolment,
    phases,
    plan_ends_as,
)
from adapter.domain.visitplan import VisitStatus
from adapter.fhir.dates import now_instant
from adapter.fhir.outcome import FhirError
from adapter.mapping.careplan_out import DETAIL_STATUS, activity_date, activity_sequence, careplan_track
from adapter.mapping.consult_out import cancelled
from adapter.mapping.decision_out import business_status, coding, task_track
from adapter.mapping.ids import careplan_id, guidance_id, programme_id, referral_task_id, verder_plan_id
from adapter.mapping.programme_out import (
    ENDING_SYSTEM,
    FINAL,
    Ending,
    Programme,
    is_programme,
    programme_episode,
    read_programme,
    with_status,
)
from adapter.security.access import Viewer
from adapter.store.engine import Store
from adapter.store.session import Session, Stored, Write
from adapter.workflows.birth import reported_birth
from adapter.workflows.careplan import stored_facts
from adapter.workflows.consult import consults_of
from adapter.workflows.findings import IntakeVisit, intake_of

REFERRAL_SYSTEM_CODE = "voorzorg-referral"
#: CarePlan statuses of a plan that still runs
_RUNNING_PLAN = ("active", "on-hold", "draft")
_TRACK_EXT = "https://fhir.voorzorg.nl/StructureDefinition/voorzorg-track"
_CONSULT_EXT = "https://fhir.voorzorg.nl/StructureDefinition/voorzorg-consult-required"
DETAIL_STATUS_PLANNED = DETAIL_STATUS[VisitStatus.PLANNED]


# --- which referral a change is about ---------------------------------------------------------------
def referral_of(stored: Stored) -> str | None:
    """The referral (ServiceRequest id) a written resource belongs to, or None."""
    c = stored.content
    refs: list[str] = []
    if stored.res_type == "ServiceRequest":
        codes = [x.get("code") for x in (c.get("code") or {}).get("coding", [])]
        refs = [f"ServiceRequest/{stored.res_id}"] if REFERRAL_SYSTEM_CODE in codes else []
        refs += [b.get("reference", "") for b in c.get("basedOn", [])]
    elif stored.res_type == "Task":
        # a consult Task is based on the referral (its focus is the consult request); the referral's own
        # Task focuses on the referral
        refs = [
            *(b.get("reference", "") for b in c.get("basedOn", [])),
            (c.get("focus") or {}).get("reference", ""),
        ]
    elif stored.res_type == "CarePlan":
        refs = [i.get("reference", "") for i in c.get("supportingInfo", [])[:1]]
    elif stored.res_type in ("Encounter", "Observation"):
        refs = [b.get("reference", "") for b in c.get("basedOn", [])]
    elif stored.res_type == "EpisodeOfCare" and is_programme(c):
        refs = [r.get("reference", "") for r in c.get("referralRequest", [])]
    for ref in refs:
        if isinstance(ref, str) and ref.startswith("ServiceRequest/") and ref.count("/") == 1:
            return ref.split("/", 1)[1]
    return None


class FollowPath:
    """The effect: the programme of every referral a unit of work touched follows it."""

    def __init__(self, organization: str) -> None:
        self.organization = organization

    def __call__(self, s: Session) -> None:
        referrals = dict.fromkeys(r for w in list(s.written) if (r := referral_of(w.stored)) is not None)
        for referral_id in referrals:
            follow(s, referral_id, self.organization)


# --- following -------------------------------------------------------------------------------------
def follow(s: Session, referral_id: str, organization: str | None = None) -> Stored | None:
    """Her programme as her referral now says; None while the referral has no Task (it is no referral)."""
    task = s.live(f"Task/{referral_task_id(referral_id)}")
    referral = s.live(f"ServiceRequest/{referral_id}")
    if task is None or referral is None:
        return None
    current = s.live(f"EpisodeOfCare/{programme_id(referral_id)}")
    programme = read_programme(current.content) if current is not None else None
    if programme is not None and programme.status in FINAL:
        _tell_sender(s, task, PathStatus.ENDED if programme.ended else _decided(s, referral_id))
        return current
    visit = intake_of(s, referral_id)
    path = Path(
        decided=_decided(s, referral_id),
        task_status=str(task.content.get("status")),
        intake_on=visit.on if visit else _first_visit_on(s, referral_id),
        takes_part=visit.findings.takes_part if visit else None,
        started=programme is not None and programme.status == "active",
    )
    if path.enrolled:
        task = _start(s, task)
        if visit is not None:
            _first_visit_done(s, referral_id, visit)
    _tell_sender(s, task, path.status)
    enrolled_on = (programme.enrolled if programme else None) or path.intake_on
    body = _episode(
        s,
        referral_id,
        referral,
        task,
        current,
        status=path.episode_status,
        enrolled=enrolled_on if path.enrolled else None,
        organization=organization,
    )
    return s.put(body).stored


def _first_visit_on(s: Session, referral_id: str) -> date | None:
    """Without a recorded intake visit: the date of her first home visit done (NFP counts a client as
    enrolled once the first home visit has taken place), from its Encounter or else the plan."""
    plan = s.live(f"CarePlan/{careplan_id(referral_id)}")
    if plan is None:
        return None
    days = []
    for a in plan.content.get("activity", []):
        if a.get("detail", {}).get("status") != "completed" or activity_sequence(a) is None:
            continue
        refs = [str(r.get("reference", "")) for r in a.get("outcomeReference", [])]
        encounter = s.live(refs[0]) if refs and refs[0].count("/") == 1 else None
        start = (encounter.content.get("period") or {}).get("start") if encounter is not None else None
        days.append(date.fromisoformat(str(start or activity_date(a).isoformat())[:10]))
    return min(days, default=None)


def _decided(s: Session, referral_id: str) -> PathStatus:
    """Where the referral's decision leaves her (no decision yet: received)."""
    guidance = s.live(f"GuidanceResponse/{guidance_id(referral_id)}")
    if guidance is None:
        return PathStatus.RECEIVED
    ext = {e.get("url"): e for e in guidance.content.get("extension", [])}
    track = (ext.get(_TRACK_EXT) or {}).get("valueCoding", {}).get("code", Track.INCOMPLETE.value)
    consult = bool((ext.get(_CONSULT_EXT) or {}).get("valueBoolean", False))
    return after_decision(Decision(Track(track), consult_required=consult), path_rules())


def _start(s: Session, task: Stored) -> Stored:
    """Enrolled: the referral Task goes to in-progress (the nurse has started)."""
    status = str(task.content.get("status"))
    if status == "in-progress" or "in-progress" not in task_transitions().get(status, []):
        return task
    return s.put({**task.content, "status": "in-progress", "lastModified": now_instant()}).stored


def _first_visit_done(s: Session, referral_id: str, visit: IntakeVisit) -> None:
    """The intake visit is the plan's first visit: marked done, pointing at the Encounter."""
    plan = s.live(f"CarePlan/{careplan_id(referral_id)}")
    if plan is None or plan.content.get("status") not in _RUNNING_PLAN:
        return
    activities = [dict(a) for a in plan.content.get("activity", [])]
    first = next((i for i, a in enumerate(activities) if activity_sequence(a) == 1), None)
    if first is None or activities[first].get("detail", {}).get("status") != DETAIL_STATUS_PLANNED:
        return
    detail = {**activities[first]["detail"], "status": "completed"}
    activities[first] = {
        **activities[first],
        "detail": detail,
        "outcomeReference": [{"reference": visit.encounter.reference}],
    }
    s.put({**plan.content, "activity": activities})


def _tell_sender(s: Session, task: Stored, status: PathStatus) -> Stored:
    """The referral Task's businessStatus says where she is (the sender hears it through the outbox)."""
    wanted = business_status(status)
    if task.content.get("businessStatus") == wanted:
        return task
    return s.put({**task.content, "businessStatus": wanted, "lastModified": now_instant()}).stored


def _episode(
    s: Session,
    referral_id: str,
    referral: Stored,
    task: Stored,
    current: Stored | None,
    *,
    status: str,
    enrolled: date | None,
    organization: str | None,
    ending: Ending | None = None,
) -> dict[str, Any]:
    """The programme's EpisodeOfCare as the referral now says (dates derived, history kept)."""
    programme = read_programme(current.content) if current is not None else None
    referred = date.fromisoformat(
        str(referral.content.get("authoredOn", ""))[:10] or date.today().isoformat()
    )
    history: tuple[dict[str, Any], ...] = programme.history if programme else ()
    if not history:
        history = tuple(with_status((), "planned", referred))
    since = ending.on if ending else enrolled if status == "active" else date.today()
    start = _enrolment(s, referral_id, enrolled) if enrolled else None
    return programme_episode(
        episode_id=programme_id(referral_id),
        patient_ref=str(referral.content["subject"]["reference"]),
        referral_id=referral_id,
        track=task_track(task.content) or Track.INCOMPLETE.value,
        status=status,
        history=with_status(history, status, since or referred),
        organization=_organization(current, organization),
        enrolment=start[0] if start else None,
        phases=start[1](ending.on if ending else None) if start else (),
        ending=ending,
        identifiers=list(current.content.get("identifier", [])) if current is not None else None,
    )


def _enrolment(
    s: Session, referral_id: str, on: date
) -> tuple[Enrolment, Callable[[date | None], tuple[PhasePeriod, ...]]]:
    """Her enrolment (age of pregnancy or of the child) and, given an ending date, her phases."""
    rules = path_rules()
    full_term = visit_schedule().full_term_days
    facts = stored_facts(s, referral_id)
    plan = s.live(f"CarePlan/{careplan_id(referral_id)}")
    actual = reported_birth(s, plan.content, referral_id) if plan is not None else None
    if actual is None and facts.child_born:
        actual = facts.delivery_date
    expected = facts.expected_birth(full_term)
    start = enrolment(on, expected, actual, full_term)
    birth = actual or expected
    verder = s.live(f"CarePlan/{verder_plan_id(careplan_id(referral_id))}")
    verder_until = (
        date.fromisoformat(verder.content["period"]["end"][:10])
        if verder is not None and verder.content.get("status") in (*_RUNNING_PLAN, "completed")
        else None
    )

    def periods(ended: date | None) -> tuple[PhasePeriod, ...]:
        if birth is None:
            return ()
        return phases(on, birth, rules, ended=ended, verder_until=verder_until)

    return start, periods


def _organization(current: Stored | None, organization: str | None) -> tuple[str, str]:
    if current is not None:
        ident = (current.content.get("managingOrganization") or {}).get("identifier") or {}
        if ident.get("system") and ident.get("value"):
            return str(ident["system"]), str(ident["value"])
    system, _, value = (organization or Settings().organization).partition("|")
    return system, value


# --- ending ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Ended:
    programme: Stored
    written: list[Write]


def end(
    store: Store,
    viewer: Viewer,
    episode_id: str,
    reason: EndingReason,
    on: date,
    text: str = "",
    organization: str | None = None,
) -> Ended:
    """The JGZ ends a programme the caller may see (`EpisodeOfCare/{id}/$end`), in one transaction."""

    def work(s: Session) -> Ended:
        episode = viewer.found(s, f"EpisodeOfCare/{episode_id}", "The programme")
        referral_id = referral_of(episode)
        if referral_id is None:
            raise FhirError.one(404, f"EpisodeOfCare/{episode_id} is no VoorZorg programme", code="not-found")
        return end_programme(s, referral_id, reason, on, text=text, organization=organization)

    return store.write(work)


def end_programme(
    s: Session,
    referral_id: str,
    reason: EndingReason,
    on: date,
    *,
    text: str = "",
    organization: str | None = None,
    element: str = "Parameters.parameter[date]",
) -> Ended:
    """End her programme on `on` for `reason`: 409 when it ended already, 422 for a date before her
    enrolment (or before the referral, when she never enrolled)."""
    current = follow(s, referral_id, organization)
    if current is None:
        raise FhirError.one(
            409, "The referral has no programme to end (it has no Task)", code="business-rule"
        )
    programme = read_programme(current.content)
    referral = s.live(f"ServiceRequest/{referral_id}")
    task = s.live(f"Task/{referral_task_id(referral_id)}")
    assert referral is not None and task is not None  # follow found them
    referred = date.fromisoformat(str(referral.content["authoredOn"])[:10])
    enrolled = programme.enrolled if programme.status == "active" else None
    _refuse(
        ending_problem(on, referred=referred, enrolled=enrolled, ended=programme.status in FINAL),
        programme,
        element,
    )
    when = now_instant()
    why = {"coding": [coding(ENDING_SYSTEM, reason.value)], **({"text": text} if text else {})}
    written = _end_plans(s, referral_id, reason, why, on)
    written += _cancel_consults(s, referral_id, when)
    written.append(_complete_task(s, task, why, when))
    ending = Ending(reason, on, text)
    status = "finished" if enrolled is not None else "cancelled"
    body = _episode(
        s,
        referral_id,
        referral,
        task,
        current,
        status=status,
        enrolled=enrolled,
        organization=organization,
        ending=ending,
    )
    episode = s.put(body)
    return Ended(episode.stored, [*written, episode])


def _refuse(problem: EndingProblem | None, programme: Programme, element: str) -> None:
    if problem is EndingProblem.ALREADY_ENDED:
        why = (
            f"ended on {programme.ending.on.isoformat()} ({programme.ending.reason.value})"
            if programme.ending
            else "closed without a programme"
        )
        raise FhirError.one(
            409, f"The programme has ended already: {why}", "EpisodeOfCare.status", code="business-rule"
        )
    if problem is EndingProblem.BEFORE_ENROLMENT:
        enrolled = programme.enrolled.isoformat() if programme.enrolled else "?"
        raise FhirError.one(
            422, f"The end date lies before her enrolment on {enrolled}", element, code="business-rule"
        )
    if problem is EndingProblem.BEFORE_REFERRAL:
        raise FhirError.one(422, "The end date lies before the referral", element, code="business-rule")


def _end_plans(
    s: Session, referral_id: str, reason: EndingReason, why: dict[str, Any], on: date
) -> list[Write]:
    """Her running plans complete (or are revoked); visits not done are cancelled."""
    out = []
    cid = careplan_id(referral_id)
    for plan_id in (cid, verder_plan_id(cid)):
        plan = s.live(f"CarePlan/{plan_id}")
        if plan is None or plan.content.get("status") not in _RUNNING_PLAN:
            continue
        activities = [
            {**a, "detail": {**a["detail"], "status": "cancelled", "statusReason": why}}
            if a.get("detail", {}).get("status") == DETAIL_STATUS_PLANNED
            else a
            for a in plan.content.get("activity", [])
        ]
        period = dict(plan.content.get("period", {}))
        if period.get("end") and reason is not EndingReason.COMPLETED and on.isoformat() < period["end"][:10]:
            period["end"] = on.isoformat()
        out.append(
            s.put({**plan.content, "status": plan_ends_as(reason), "period": period, "activity": activities})
        )
    return out


def _cancel_consults(s: Session, referral_id: str, when: str) -> list[Write]:
    """Open consult requests are no longer needed once the programme ended."""
    out = []
    for consult in consults_of(s, referral_id):
        if consult.is_open:
            out.append(s.put(cancelled(consult.task.content, "The programme ended", when)))
            if consult.request.content.get("status") in ("draft", "active", "on-hold"):
                out.append(s.put({**consult.request.content, "status": "revoked"}))
    return out


def _complete_task(s: Session, task: Stored, why: dict[str, Any], when: str) -> Write:
    """The referral Task completes (through in-progress, each a version the sender sees), saying why and
    that she has ended."""
    content = dict(task.content)
    for step in ("in-progress", "completed"):
        status = str(content.get("status"))
        if status != step and step in task_transitions().get(status, []):
            content = {**content, "status": step, "lastModified": when}
            if step == "in-progress":
                s.put(content)
    content |= {
        "statusReason": why,
        "businessStatus": business_status(PathStatus.ENDED),
        "lastModified": when,
    }
    return s.put(content)


# --- the programme completed at the child's 2nd birthday --------------------------------------------
def complete(s: Session, plan: Stored) -> bool:
    """A plan whose period ended (`careplans complete-due`): her programme ends with reason completed on
    the plan's end — unless VoorZorg Verder continues it, then only the plan completes. False when the
    plan belongs to no programme (the caller completes it as before)."""
    referral_id = referral_of(plan)
    if referral_id is None:
        return False
    current = follow(s, referral_id)
    if current is None or read_programme(current.content).status in FINAL:
        return False
    on = date.fromisoformat(plan.content["period"]["end"][:10])
    verder = s.live(f"CarePlan/{verder_plan_id(careplan_id(referral_id))}")
    if careplan_track(plan.content) is not Track.VOORZORG_VERDER and verder is not None:
        s.put({**plan.content, "status": "completed"})
        return True
    end_programme(s, referral_id, EndingReason.COMPLETED, on, text="Completed")
    return True
