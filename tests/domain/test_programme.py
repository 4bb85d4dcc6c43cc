"""The client's path in the domain (domain page §7), rule by rule and boundary by boundary: where a
decision leaves her, when she counts as enrolled, her age of pregnancy at enrolment, the phases derived
from the dates, what an ending may not do, the intake visit's findings outranking the referral, and the
plausible birth outcome. Every expectation is worked out by hand from the page and mappings/path.yaml.
"""

from __future__ import annotations

import dataclasses
from datetime import date

import pytest

from adapter.data import path_rules
from adapter.domain.eligibility import Decision, Reason, Track
from adapter.domain.facts import PregnancyDuration, ReferralFacts
from adapter.domain.programme import (
    BirthOutcome,
    EndingProblem,
    EndingReason,
    Enrolment,
    Findings,
    OutcomeProblem,
    Path,
    PathStatus,
    Phase,
    PhasePeriod,
    after_decision,
    confirmed,
    ending_problem,
    enrolment,
    outcome_problems,
    phase_on,
    phases,
    plan_ends_as,
)

RULES = path_rules()
BIRTH = date(2026, 8, 31)


def test_the_rules_are_the_pages() -> None:
    assert (RULES.toddler_from_months, RULES.end_months, RULES.full_term_days) == (12, 24, 280)
    assert RULES.gestational_age_at_birth_days == (112, 322)
    assert RULES.birth_weight_grams == (200, 7000)


# --- where a decision leaves her --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("decision", "expected"),
    [
        (Decision(Track.INCOMPLETE, (Reason.MISSING_DATA,)), PathStatus.RECEIVED),
        (Decision(Track.NOT_ELIGIBLE, (Reason.NOT_VERY_VULNERABLE,)), PathStatus.DECIDED),
        (
            Decision(Track.CONSULT, (Reason.FORCED_FRAMEWORK,), consult_required=True),
            PathStatus.CONSULT_PENDING,
        ),
        (Decision(Track.VOORZORG), PathStatus.INTAKE_PLANNED),
        (Decision(Track.VOORZORG_2), PathStatus.INTAKE_PLANNED),
        (Decision(Track.LATE_START), PathStatus.INTAKE_PLANNED),
        (
            Decision(Track.LATE_START, (Reason.NURSE_NOT_TRAINED,), consult_required=True),
            PathStatus.CONSULT_PENDING,
        ),
        (
            Decision(Track.VOORZORG_2, (Reason.NURSE_NOT_TRAINED,), consult_required=True),
            PathStatus.CONSULT_PENDING,
        ),
    ],
)
def test_where_a_decision_leaves_her(decision: Decision, expected: PathStatus) -> None:
    assert after_decision(decision, RULES) is expected


def test_the_statuses_are_the_issues_six() -> None:
    assert [s.value for s in PathStatus] == [
        "received",
        "decided",
        "consult-pending",
        "intake-planned",
        "enrolled",
        "ended",
    ]


# --- enrolment: the first visit, her yes, a track that runs -----------------------------------------------

VISIT = date(2026, 3, 9)


@pytest.mark.parametrize("task", ["accepted", "in-progress"])
@pytest.mark.parametrize("yes", [True, None])  # not saying no is enough (a first visit recorded by plan)
def test_enrolled_after_the_first_visit_when_the_track_runs(task: str, yes: bool | None) -> None:
    p = Path(PathStatus.INTAKE_PLANNED, task, VISIT, yes)
    assert p.enrolled and p.status is PathStatus.ENROLLED and p.episode_status == "active"


@pytest.mark.parametrize(
    "path",
    [
        Path(PathStatus.INTAKE_PLANNED, "accepted"),  # no visit yet
        Path(PathStatus.INTAKE_PLANNED, "accepted", VISIT, False),  # she said no
        Path(PathStatus.CONSULT_PENDING, "on-hold", VISIT, True),  # the consult still runs
        Path(PathStatus.INTAKE_PLANNED, "on-hold", VISIT, True),  # the Task does not run
        Path(PathStatus.RECEIVED, "on-hold", VISIT, True),
        Path(PathStatus.INTAKE_PLANNED, "requested", VISIT, True),
    ],
)
def test_not_enrolled(path: Path) -> None:
    assert not path.enrolled
    assert path.status is path.decided
    assert path.episode_status == "planned"


def test_a_running_programme_stays_enrolled_whatever_the_decision_says_later() -> None:
    p = Path(PathStatus.CONSULT_PENDING, "on-hold", None, None, started=True)
    assert p.enrolled and p.status is PathStatus.ENROLLED and p.episode_status == "active"


def test_ended_outranks_everything() -> None:
    p = Path(PathStatus.INTAKE_PLANNED, "in-progress", VISIT, True, started=True, ended=True)
    assert not p.enrolled and p.status is PathStatus.ENDED


@pytest.mark.parametrize("task", ["rejected", "cancelled", "failed", "entered-in-error"])
def test_a_referral_closed_without_a_programme_cancels_it(task: str) -> None:
    assert Path(PathStatus.DECIDED, task).episode_status == "cancelled"


# --- age at enrolment ---------------------------------------------------------------------------------------


def test_gestational_age_at_enrolment_from_the_expected_birth() -> None:
    assert enrolment(VISIT, BIRTH, None, 280) == Enrolment(VISIT, gestational_age_days=105)
    assert enrolment(VISIT, BIRTH, date(2026, 9, 1), 280) == Enrolment(VISIT, gestational_age_days=105)


def test_enrolled_after_the_birth_counts_the_childs_age() -> None:
    born = date(2026, 3, 1)
    assert enrolment(VISIT, BIRTH, born, 280) == Enrolment(VISIT, child_age_days=8)
    assert enrolment(VISIT, None, VISIT, 280) == Enrolment(VISIT, child_age_days=0)  # born that day


def test_without_any_dating_only_the_date_is_known() -> None:
    assert enrolment(VISIT, None, None, 280) == Enrolment(VISIT)


# --- phases -------------------------------------------------------------------------------------------------


def test_phases_from_enrolment_through_pregnancy_infancy_and_toddler() -> None:
    assert phases(VISIT, BIRTH, RULES) == (
        PhasePeriod(Phase.PREGNANCY, VISIT, date(2026, 8, 30)),
        PhasePeriod(Phase.INFANCY, BIRTH, date(2027, 8, 30)),
        PhasePeriod(Phase.TODDLER, date(2027, 8, 31), date(2028, 8, 30)),
    )


def test_enrolled_after_the_birth_starts_in_infancy() -> None:
    assert phases(date(2026, 9, 20), BIRTH, RULES)[0] == PhasePeriod(
        Phase.INFANCY, date(2026, 9, 20), date(2027, 8, 30)
    )
    assert phases(BIRTH, BIRTH, RULES)[0].phase is Phase.INFANCY  # enrolled on the day of birth


def test_enrolled_the_day_before_the_birth_has_one_day_of_pregnancy() -> None:
    day_before = date(2026, 8, 30)
    assert phases(day_before, BIRTH, RULES)[0] == PhasePeriod(Phase.PREGNANCY, day_before, day_before)


def test_a_leap_day_birth_turns_one_on_the_last_of_february() -> None:
    born = date(2028, 2, 29)
    periods = phases(date(2027, 10, 1), born, RULES)
    assert periods[1].end == date(2029, 2, 27) and periods[2].start == date(2029, 2, 28)


@pytest.mark.parametrize(
    ("ended", "last"),
    [
        (date(2026, 5, 1), PhasePeriod(Phase.PREGNANCY, VISIT, date(2026, 5, 1))),
        (date(2026, 8, 30), PhasePeriod(Phase.PREGNANCY, VISIT, date(2026, 8, 30))),
        (BIRTH, PhasePeriod(Phase.INFANCY, BIRTH, BIRTH)),
        (date(2027, 8, 31), PhasePeriod(Phase.TODDLER, date(2027, 8, 31), date(2027, 8, 31))),
        (date(2028, 8, 31), PhasePeriod(Phase.TODDLER, date(2027, 8, 31), date(2028, 8, 30))),
    ],
)
def test_an_ending_cuts_the_phases_the_last_is_where_she_ended(ended: date, last: PhasePeriod) -> None:
    assert phases(VISIT, BIRTH, RULES, ended=ended)[-1] == last


def test_voorzorg_verder_follows_the_second_birthday_when_it_continues() -> None:
    until = date(2029, 8, 31)
    periods = phases(VISIT, BIRTH, RULES, verder_until=until)
    assert periods[-1] == PhasePeriod(Phase.VERDER, date(2028, 8, 31), until)
    assert phases(VISIT, BIRTH, RULES, verder_until=date(2028, 8, 30))[-1].phase is Phase.TODDLER  # too early
    assert phases(VISIT, BIRTH, RULES, verder_until=date(2028, 8, 31))[-1] == PhasePeriod(
        Phase.VERDER, date(2028, 8, 31), date(2028, 8, 31)
    )
    cut = phases(VISIT, BIRTH, RULES, ended=date(2029, 1, 1), verder_until=until)[-1]
    assert cut == PhasePeriod(Phase.VERDER, date(2028, 8, 31), date(2029, 1, 1))


def test_an_open_phase_is_closed_by_the_ending() -> None:
    open_ = (PhasePeriod(Phase.VERDER, date(2028, 8, 31), None),)
    assert phase_on(date(2040, 1, 1), open_) is Phase.VERDER


@pytest.mark.parametrize(
    ("day", "phase"),
    [
        (date(2026, 3, 8), None),
        (VISIT, Phase.PREGNANCY),
        (date(2026, 8, 30), Phase.PREGNANCY),
        (BIRTH, Phase.INFANCY),
        (date(2027, 8, 30), Phase.INFANCY),
        (date(2027, 8, 31), Phase.TODDLER),
        (date(2028, 8, 30), Phase.TODDLER),
        (date(2028, 8, 31), None),
    ],
)
def test_the_phase_on_a_day(day: date, phase: Phase | None) -> None:
    assert phase_on(day, phases(VISIT, BIRTH, RULES)) is phase


def test_other_phase_rules_move_the_boundaries() -> None:
    other = dataclasses.replace(RULES, toddler_from_months=18, end_months=36)
    periods = phases(VISIT, BIRTH, other)
    assert periods[1].end == date(2028, 2, 28) and periods[2] == PhasePeriod(
        Phase.TODDLER, date(2028, 2, 29), date(2029, 8, 30)
    )


# --- ending -------------------------------------------------------------------------------------------------

REFERRED = date(2026, 3, 2)


@pytest.mark.parametrize(
    ("on", "enrolled", "ended", "problem"),
    [
        (VISIT, VISIT, False, None),
        (date(2026, 3, 8), VISIT, False, EndingProblem.BEFORE_ENROLMENT),
        (date(2030, 1, 1), VISIT, True, EndingProblem.ALREADY_ENDED),
        (REFERRED, None, False, None),
        (date(2026, 3, 1), None, False, EndingProblem.BEFORE_REFERRAL),
        (date(2026, 3, 1), VISIT, False, EndingProblem.BEFORE_ENROLMENT),
    ],
)
def test_what_an_ending_may_not_do(
    on: date, enrolled: date | None, ended: bool, problem: EndingProblem | None
) -> None:
    assert ending_problem(on, referred=REFERRED, enrolled=enrolled, ended=ended) is problem


def test_only_completion_completes_the_plan() -> None:
    assert {r: plan_ends_as(r) for r in EndingReason} == {
        r: "completed" if r is EndingReason.COMPLETED else "revoked" for r in EndingReason
    }


def test_the_ending_reasons_are_the_pages_eight() -> None:
    assert [r.value for r in EndingReason] == [
        "completed",
        "client-choice",
        "moved",
        "not-reachable",
        "pregnancy-ended-or-child-died",
        "child-placed-out-of-home",
        "referred-to-other-care",
        "other",
    ]


# --- the intake visit's findings outrank the referral -----------------------------------------------------

REFERRAL = ReferralFacts(
    referral_date=REFERRED,
    estimated_delivery_date=BIRTH,
    pregnancy_duration=PregnancyDuration(98, REFERRED),
    parity=1,
    very_vulnerable=True,
    serious_parenting_problems=False,
    forced_framework=None,
    voluntary=True,
)


def test_no_findings_change_nothing() -> None:
    assert confirmed(REFERRAL, Findings()) == REFERRAL
    assert confirmed(REFERRAL, Findings(takes_part=True)) == REFERRAL  # her yes is no eligibility fact


@pytest.mark.parametrize(
    ("finding", "field", "value"),
    [
        ({"voluntary": False}, "voluntary", False),
        ({"forced_framework": True}, "forced_framework", True),
        ({"forced_framework": False}, "forced_framework", False),
        ({"serious_parenting_problems": True}, "serious_parenting_problems", True),
        ({"parity": 0}, "parity", 0),
    ],
)
def test_each_yes_no_finding_replaces_the_referrers(
    finding: dict[str, object], field: str, value: object
) -> None:
    got = confirmed(REFERRAL, Findings(**finding))  # type: ignore[arg-type]
    assert getattr(got, field) == value
    assert dataclasses.replace(got, **{field: getattr(REFERRAL, field)}) == REFERRAL  # and nothing else


def test_a_new_edd_replaces_the_whole_dating() -> None:
    got = confirmed(REFERRAL, Findings(estimated_delivery_date=date(2026, 9, 14)))
    assert (got.estimated_delivery_date, got.pregnancy_duration) == (date(2026, 9, 14), None)


def test_a_new_duration_replaces_the_whole_dating() -> None:
    duration = PregnancyDuration(112, VISIT)
    got = confirmed(REFERRAL, Findings(pregnancy_duration=duration))
    assert (got.estimated_delivery_date, got.pregnancy_duration) == (None, duration)


@pytest.mark.parametrize(
    "dating",
    [{"estimated_delivery_date": date(2026, 9, 14)}, {"pregnancy_duration": PregnancyDuration(112, VISIT)}],
)
def test_a_new_dating_and_a_yes_no_finding_both_count(dating: dict[str, object]) -> None:
    got = confirmed(REFERRAL, Findings(forced_framework=True, parity=0, **dating))  # type: ignore[arg-type]
    assert (got.forced_framework, got.parity) == (True, 0)
    assert (got.estimated_delivery_date, got.pregnancy_duration) == (
        dating.get("estimated_delivery_date"),
        dating.get("pregnancy_duration"),
    )


def test_an_edd_outranks_a_duration_found_at_the_same_visit() -> None:
    got = confirmed(
        REFERRAL, Findings(estimated_delivery_date=BIRTH, pregnancy_duration=PregnancyDuration(1, VISIT))
    )
    assert (got.estimated_delivery_date, got.pregnancy_duration) == (BIRTH, None)


# --- the birth outcome --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ga", "problems"),
    [
        (None, []),
        (112, []),
        (322, []),
        (111, [(OutcomeProblem.GESTATIONAL_AGE, 0)]),
        (323, [(OutcomeProblem.GESTATIONAL_AGE, 0)]),
    ],
)
def test_gestational_age_at_birth_limits(ga: int | None, problems: list[tuple[OutcomeProblem, int]]) -> None:
    assert outcome_problems(BirthOutcome(gestational_age_days=ga), RULES) == problems


def test_birth_weight_limits_name_the_child() -> None:
    outcome = BirthOutcome(birth_weights_grams=(200, 199, 7000, 7001), live_born=(True, False))
    assert outcome_problems(outcome, RULES) == [
        (OutcomeProblem.BIRTH_WEIGHT, 1),
        (OutcomeProblem.BIRTH_WEIGHT, 3),
    ]


def test_both_problems_at_once_gestational_age_first() -> None:
    outcome = BirthOutcome(gestational_age_days=10, birth_weights_grams=(10,))
    assert outcome_problems(outcome, RULES) == [
        (OutcomeProblem.GESTATIONAL_AGE, 0),
        (OutcomeProblem.BIRTH_WEIGHT, 0),
    ]
