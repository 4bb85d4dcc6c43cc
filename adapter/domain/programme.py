"""The client's path through the programme (domain page §7), in the domain's own words.

Referral -> decision -> intake visit (the nurse confirms the facts, she says yes or no) -> enrolled (on
the date of that first visit) -> phases -> ended, always with a reason and a date. Pure: no FHIR, no
storage, no clock. The phases are derived from the dates (enrolment, the expected or actual birth, the
ending), never kept apart; the intake visit's findings outrank what the referrer reported.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, timedelta
from enum import StrEnum

from adapter.domain.eligibility import Decision
from adapter.domain.facts import PregnancyDuration, ReferralFacts, gestational_age_on
from adapter.domain.visitplan import add_months


class PathStatus(StrEnum):
    """Where she is, as the referral Task's businessStatus tells the sender."""

    RECEIVED = "received"
    DECIDED = "decided"
    CONSULT_PENDING = "consult-pending"
    INTAKE_PLANNED = "intake-planned"
    ENROLLED = "enrolled"
    ENDED = "ended"


class Phase(StrEnum):
    PREGNANCY = "pregnancy"
    INFANCY = "infancy"
    TODDLER = "toddler"
    VERDER = "verder"


class EndingReason(StrEnum):
    COMPLETED = "completed"
    CLIENT_CHOICE = "client-choice"
    MOVED = "moved"
    NOT_REACHABLE = "not-reachable"
    PREGNANCY_ENDED_OR_CHILD_DIED = "pregnancy-ended-or-child-died"
    CHILD_PLACED_OUT_OF_HOME = "child-placed-out-of-home"
    REFERRED_TO_OTHER_CARE = "referred-to-other-care"
    OTHER = "other"


@dataclass(frozen=True)
class PathRules:
    """mappings/path.yaml: where a decision leaves her, the phase boundaries, the birth outcome limits."""

    business_status: Mapping[str, str]
    toddler_from_months: int
    end_months: int
    gestational_age_at_birth_days: tuple[int, int]
    birth_weight_grams: tuple[int, int]
    full_term_days: int


# --- where she is -----------------------------------------------------------------------------------


def after_decision(decision: Decision, rules: PathRules) -> PathStatus:
    """Where a decision leaves her: received (incomplete), decided (not eligible), consult pending, or
    intake planned (a VoorZorg track that needs no consult)."""
    if decision.is_voorzorg_track:
        key = "consult_required" if decision.consult_required else "accepted"
    else:
        key = decision.track.value
    return PathStatus(rules.business_status[key])


#: Referral Task statuses in which the programme may run (accepted for a track, or started).
RUNNING_TASK = frozenset({"accepted", "in-progress"})
#: Referral Task statuses that close the referral without a programme.
CLOSED_TASK = frozenset({"rejected", "cancelled", "failed", "entered-in-error"})


@dataclass(frozen=True)
class Path:
    """What her path is made of: the decision's status, the referral Task's, the intake visit."""

    decided: PathStatus
    task_status: str
    intake_on: date | None = None  # the date of the intake visit, once recorded
    takes_part: bool | None = None  # her own yes or no at the intake visit
    started: bool = False  # the programme runs already (enrolled before, or taken over after a move)
    ended: bool = False

    @property
    def enrolled(self) -> bool:
        """Enrolled once the intake visit took place, she did not say no, and the referral is accepted
        for a VoorZorg track without a consult still to come; a programme that runs stays enrolled."""
        if self.ended:
            return False
        return self.started or (
            self.intake_on is not None
            and self.takes_part is not False
            and self.decided is PathStatus.INTAKE_PLANNED
            and self.task_status in RUNNING_TASK
        )

    @property
    def status(self) -> PathStatus:
        if self.ended:
            return PathStatus.ENDED
        if self.enrolled:
            return PathStatus.ENROLLED
        return self.decided

    @property
    def episode_status(self) -> str:
        """EpisodeOfCare.status while it has not ended: active once enrolled, cancelled when the referral
        closed without a programme, planned before (the decision, a consult, the intake visit)."""
        if self.enrolled:
            return "active"
        if self.task_status in CLOSED_TASK:
            return "cancelled"
        return "planned"


# --- enrolment and phases -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Enrolment:
    on: date
    gestational_age_days: int | None = None  # enrolled in pregnancy
    child_age_days: int | None = None  # enrolled after the birth (Late Start)


def enrolment(
    on: date, expected_birth: date | None, actual_birth: date | None, full_term_days: int
) -> Enrolment:
    """Her age of pregnancy (or the child's age) on the day she enrolled."""
    if actual_birth is not None and actual_birth <= on:
        return Enrolment(on, child_age_days=(on - actual_birth).days)
    if expected_birth is not None:
        return Enrolment(on, gestational_age_days=gestational_age_on(on, expected_birth, full_term_days))
    return Enrolment(on)


@dataclass(frozen=True)
class PhasePeriod:
    phase: Phase
    start: date
    end: date | None  # the last day (inclusive); None: open (VoorZorg Verder without an end yet)


def phases(
    enrolled: date,
    birth: date,
    rules: PathRules,
    *,
    ended: date | None = None,
    verder_until: date | None = None,
) -> tuple[PhasePeriod, ...]:
    """Her phases from the enrolment: pregnancy until the day before the birth, infancy until the day
    before the child is `toddler_from_months`, toddler until the day before `end_months`, then VoorZorg
    Verder (only when it continues the programme: `verder_until`). Cut at the ending: the last phase
    is the one she ended in."""
    toddler = add_months(birth, rules.toddler_from_months)
    end = add_months(birth, rules.end_months)
    spans = [
        (Phase.PREGNANCY, enrolled, birth - timedelta(days=1)),
        (Phase.INFANCY, birth, toddler - timedelta(days=1)),
        (Phase.TODDLER, toddler, end - timedelta(days=1)),
    ]
    if verder_until is not None:
        spans.append((Phase.VERDER, end, verder_until))
    out: list[PhasePeriod] = []
    for phase, start, until in spans:
        first = max(start, enrolled)
        last = until if ended is None else min(until, ended)
        if first <= last:
            out.append(PhasePeriod(phase, first, last))
    return tuple(out)


def phase_on(day: date, periods: tuple[PhasePeriod, ...]) -> Phase | None:
    """The phase that holds `day`; None before enrolment or after the last phase."""
    for p in periods:
        if p.start <= day and (p.end is None or day <= p.end):
            return p.phase
    return None


# --- ending -------------------------------------------------------------------------------------------


class EndingProblem(StrEnum):
    ALREADY_ENDED = "already-ended"
    BEFORE_ENROLMENT = "before-enrolment"
    BEFORE_REFERRAL = "before-referral"


def ending_problem(on: date, *, referred: date, enrolled: date | None, ended: bool) -> EndingProblem | None:
    """Why the programme cannot end on `on`: it ended already, or the date lies before her enrolment
    (before the referral when she never enrolled)."""
    if ended:
        return EndingProblem.ALREADY_ENDED
    if enrolled is not None and on < enrolled:
        return EndingProblem.BEFORE_ENROLMENT
    if on < referred:
        return EndingProblem.BEFORE_REFERRAL
    return None


def plan_ends_as(reason: EndingReason) -> str:
    """The CarePlan status an ending leaves: completed when the programme was completed, else revoked
    (ended before completion; after a move the new region's plan replaces it)."""
    return "completed" if reason is EndingReason.COMPLETED else "revoked"


# --- the intake visit's findings --------------------------------------------------------------------------


@dataclass(frozen=True)
class Findings:
    """What the nurse established at the intake visit; None: she did not record it."""

    voluntary: bool | None = None
    forced_framework: bool | None = None
    serious_parenting_problems: bool | None = None
    parity: int | None = None
    estimated_delivery_date: date | None = None
    pregnancy_duration: PregnancyDuration | None = None
    takes_part: bool | None = None


def confirmed(facts: ReferralFacts, findings: Findings) -> ReferralFacts:
    """The referral's facts with what the intake visit established in their place: the nurse's findings
    outrank the referrer's report. A new dating replaces the referral's whole dating (EDD and duration)."""
    changes: dict[str, object] = {
        name: value
        for name in ("voluntary", "forced_framework", "serious_parenting_problems", "parity")
        if (value := getattr(findings, name)) is not None
    }
    if findings.estimated_delivery_date is not None:
        changes |= {"estimated_delivery_date": findings.estimated_delivery_date, "pregnancy_duration": None}
    elif findings.pregnancy_duration is not None:
        changes |= {"estimated_delivery_date": None, "pregnancy_duration": findings.pregnancy_duration}
    return replace(facts, **changes)  # type: ignore[arg-type]


# --- the birth outcome ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class BirthOutcome:
    """What a birth report says beside the delivery date: the gestational age at birth, and per child
    the birth weight and whether it was born alive."""

    gestational_age_days: int | None = None
    birth_weights_grams: tuple[int, ...] = ()
    live_born: tuple[bool, ...] = ()


class OutcomeProblem(StrEnum):
    GESTATIONAL_AGE = "gestational-age"
    BIRTH_WEIGHT = "birth-weight"


def outcome_problems(outcome: BirthOutcome, rules: PathRules) -> list[tuple[OutcomeProblem, int]]:
    """Implausible values: (what, its position among the weights; 0 for the gestational age)."""
    out: list[tuple[OutcomeProblem, int]] = []
    lo, hi = rules.gestational_age_at_birth_days
    ga = outcome.gestational_age_days
    if ga is not None and not lo <= ga <= hi:
        out.append((OutcomeProblem.GESTATIONAL_AGE, 0))
    wlo, whi = rules.birth_weight_grams
    out += [
        (OutcomeProblem.BIRTH_WEIGHT, i)
        for i, w in enumerate(outcome.birth_weights_grams)
        if not wlo <= w <= whi
    ]
    return out
