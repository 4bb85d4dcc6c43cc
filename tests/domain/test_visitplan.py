"""The visit plan, case by case, against the domain page §3 and the issue's rhythm.

Expectations are derived from the rhythm as written (weekly for 4 weeks after intake, then two-weekly
until birth; weekly for 6 weeks after birth, two-weekly until 21 months, monthly until 24 months;
Late Start weekly until 8 weeks after birth), not copied from the code. GA = 280 − (EDD − intake).
"""

from __future__ import annotations

import copy
import itertools
import re
from datetime import date, timedelta
from typing import Any

import pytest
import yaml

from adapter.config import MAPPINGS_DIR
from adapter.domain.eligibility import Track
from adapter.domain.visitplan import (
    AdjustmentKind,
    Schedule,
    VisitKind,
    VisitPlan,
    VisitStatus,
    add_months,
    continuation,
    load_schedule,
    plan,
    progress,
    retime,
    revise,
)

INTAKE = date(2025, 3, 10)
WEEK = timedelta(days=7)


#: The full term the plan counts with: the eligibility rules' (mappings/eligibility.yaml), read from the file.
FULL_TERM = int(
    yaml.safe_load((MAPPINGS_DIR / "eligibility.yaml").read_text(encoding="utf-8"))["full_term_days"]
)


def schedule_data() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((MAPPINGS_DIR / "visit-schedule.yaml").read_text(encoding="utf-8"))
    return data


def schedule() -> Schedule:
    """The schedule, parsed anew for each test: `load_schedule` is code under test, so no test may rely
    on a copy parsed at import (under mutation testing that copy would predate the mutant)."""
    return load_schedule(schedule_data(), full_term_days=FULL_TERM)


def edd_for(ga_days: int, intake: date = INTAKE) -> date:
    return intake + timedelta(days=280 - ga_days)


def gaps(p: VisitPlan, phase: str) -> list[int]:
    ds = [v.planned_date for v in p.visits if v.phase == phase and v.kind is not VisitKind.EVALUATION]
    return [(b - a).days for a, b in itertools.pairwise(ds)]


def dates(p: VisitPlan, phase: str) -> list[date]:
    return [v.planned_date for v in p.visits if v.phase == phase]


def test_intake_at_16_weeks_born_on_edd() -> None:
    edd = edd_for(16 * 7)
    p = plan(Track.VOORZORG, INTAKE, edd, schedule=schedule())
    # Bare rhythm: 4 weekly + two-weekly from intake+35 to the day before birth (168 days after intake:
    # 35, 49, ..., 161 = 10) + 6 weekly after birth + two-weekly from 8 weeks to 21 months (42) + 3 monthly
    # = 65, so 5 infancy visits are left out and the plan says so.
    assert p.visit_count == 60
    assert p.flags == (AdjustmentKind.THINNED,)
    thinned = p.adjustments[0]
    assert thinned.phase == "infancy" and thinned.dropped == 5
    assert "65 -> 60" in thinned.note
    assert dates(p, "pregnancy-start") == [INTAKE + n * WEEK for n in range(4)]
    assert dates(p, "pregnancy") == [INTAKE + timedelta(days=35 + 14 * n) for n in range(10)]
    assert dates(p, "postpartum-early") == [edd + n * WEEK for n in range(1, 7)]
    assert set(gaps(p, "infancy")) == {14, 28}
    assert dates(p, "infancy")[0] == edd + timedelta(days=56)
    assert dates(p, "infancy")[-1] <= add_months(edd, 21)
    assert dates(p, "toddler") == [add_months(edd, m) for m in (22, 23, 24)]
    assert p.end_date == add_months(edd, 24) == p.visits[-1].planned_date
    assert [v.sequence for v in p.visits] == list(range(1, 61))
    assert p.visits[0].planned_date == INTAKE and "Intake" in p.visits[0].purpose
    assert all(v.status is VisitStatus.PLANNED for v in p.visits)


def test_intake_at_27_6_needs_no_thinning() -> None:
    p = plan(Track.VOORZORG, INTAKE, edd_for(195), schedule=schedule())
    assert p.visit_count == 59
    assert p.adjustments == ()
    assert gaps(p, "infancy") == [14] * 41


def test_very_early_intake_at_8_weeks_is_thinned_to_60_and_says_so() -> None:
    p = plan(Track.VOORZORG, INTAKE, edd_for(56), schedule=schedule())
    assert p.visit_count == 60
    (a,) = p.adjustments
    assert a.kind is AdjustmentKind.THINNED and a.phase == "infancy" and a.dropped == 9
    assert "69 -> 60" in a.note
    # Left out spread evenly: never two neighbours, so the rhythm at most doubles.
    assert max(gaps(p, "infancy")) == 28 and gaps(p, "infancy").count(28) == 9
    # The pregnancy keeps its full rhythm.
    assert set(gaps(p, "pregnancy")) == {14}


def test_voorzorg_2_carries_its_modules_in_every_visit() -> None:
    p = plan(Track.VOORZORG_2, INTAKE, edd_for(20 * 7), schedule=schedule())
    assert 40 <= p.visit_count <= 60
    assert all(v.modules == ("earlier-children", "parenting") for v in p.visits)
    regular = plan(Track.VOORZORG, INTAKE, edd_for(20 * 7), schedule=schedule())
    assert [v.planned_date for v in p.visits] == [v.planned_date for v in regular.visits]


def test_late_start_at_30_weeks() -> None:
    edd = edd_for(30 * 7)
    p = plan(Track.LATE_START, INTAKE, edd, schedule=schedule())
    first = p.visits[0]
    assert first.kind is VisitKind.PRIORITY_OVERVIEW and first.planned_date == INTAKE
    assert "priority overview" in first.purpose
    assert sum(v.kind is VisitKind.PRIORITY_OVERVIEW for v in p.visits) == 1
    # Weekly from intake (70 days before birth) until 8 weeks after: 126 days / 7 + 1 = 19 visits.
    weekly = dates(p, "late-start-weekly")
    assert weekly == [INTAKE + n * WEEK for n in range(19)]
    assert weekly[-1] == edd + timedelta(days=56)
    # Then the regular rhythm: 19 + 41 two-weekly + 3 monthly = 63, thinned to 60.
    assert dates(p, "infancy")[0] == edd + timedelta(days=70)
    assert p.visit_count == 60
    assert p.adjustments[0].phase == "infancy" and p.adjustments[0].dropped == 3


def test_late_start_three_weeks_after_birth() -> None:
    born = INTAKE - 3 * WEEK
    p = plan(Track.LATE_START, INTAKE, actual_birth=born, schedule=schedule())
    assert p.visits[0].kind is VisitKind.PRIORITY_OVERVIEW
    assert dates(p, "late-start-weekly") == [INTAKE + n * WEEK for n in range(6)]  # until 8 weeks
    assert p.visit_count == 50 and p.adjustments == ()
    assert p.end_date == add_months(born, 24)


def test_late_start_six_weeks_after_birth_is_the_last_allowed_day() -> None:
    p = plan(Track.LATE_START, INTAKE, actual_birth=INTAKE - 6 * WEEK, schedule=schedule())
    assert p.visit_count == 47 and p.adjustments == ()
    late = plan(
        Track.LATE_START, INTAKE, actual_birth=INTAKE - 6 * WEEK - timedelta(days=1), schedule=schedule()
    )
    assert late.flags == (AdjustmentKind.OUTSIDE_WINDOW,)
    assert "43 days old" in late.adjustments[0].note


def test_voorzorg_intake_at_28_weeks_is_flagged_not_refused() -> None:
    p = plan(Track.VOORZORG, INTAKE, edd_for(196), schedule=schedule())
    assert AdjustmentKind.OUTSIDE_WINDOW in p.flags
    assert "28+0 weeks" in p.adjustments[0].note


def test_evaluation_moments_are_visits_of_their_own() -> None:
    edd = edd_for(20 * 7)
    moments = [INTAKE + timedelta(days=42), INTAKE + timedelta(days=90), edd + timedelta(days=180)]
    base = plan(Track.VOORZORG, INTAKE, edd, schedule=schedule())
    p = plan(Track.VOORZORG, INTAKE, edd, schedule=schedule(), evaluation_moments=moments)
    evaluations = [v for v in p.visits if v.kind is VisitKind.EVALUATION]
    assert [v.planned_date for v in evaluations] == moments
    assert all("evaluation" in v.purpose.lower() for v in evaluations)
    assert evaluations[0].phase == "pregnancy" and evaluations[2].phase == "infancy"
    assert p.visit_count == base.visit_count  # they do not count toward 40-60
    assert [v.sequence for v in p.visits] == list(range(1, len(p.visits) + 1))
    with pytest.raises(ValueError, match="outside the plan period"):
        plan(Track.VOORZORG, INTAKE, edd, schedule=schedule(), evaluation_moments=[INTAKE - WEEK])


def test_retime_born_three_weeks_early_keeps_done_visits() -> None:
    edd = edd_for(16 * 7)
    born = edd - 3 * WEEK
    p = plan(Track.VOORZORG, INTAKE, edd, schedule=schedule())
    done = [v.sequence for v in p.visits if v.planned_date < born]
    r = retime(p, born, done, schedule=schedule())
    for s in done:
        assert r.visit(s).planned_date == p.visit(s).planned_date
        assert r.visit(s).status is VisitStatus.DONE
    assert r.actual_birth == born and r.expected_birth == edd
    assert dates(r, "postpartum-early") == [born + n * WEEK for n in range(1, 7)]
    assert dates(r, "toddler")[-1] == add_months(born, 24) == r.end_date
    assert 40 <= r.visit_count <= 60
    assert r.flags[0] is AdjustmentKind.RETIMED and "21 days early" in r.adjustments[0].note
    assert [v.sequence for v in r.visits] == list(range(1, len(r.visits) + 1))


def test_retime_born_two_weeks_late_adds_pregnancy_visits() -> None:
    edd = edd_for(20 * 7)
    born = edd + 2 * WEEK
    p = plan(Track.VOORZORG, INTAKE, edd, schedule=schedule())
    done = [v.sequence for v in p.visits if v.planned_date < edd]
    r = retime(p, born, done, schedule=schedule(), missed_sequences=[])
    assert all(r.visit(s).planned_date == p.visit(s).planned_date for s in done)
    assert len(dates(r, "pregnancy")) > len(dates(p, "pregnancy"))
    assert dates(r, "pregnancy")[-1] < born
    assert dates(r, "postpartum-early")[0] == born + WEEK
    assert 40 <= r.visit_count <= 60
    assert "14 days late" in r.adjustments[0].note


def test_retime_keeps_missed_visits_and_unrecorded_ones_before_the_last_record() -> None:
    edd = edd_for(16 * 7)
    p = plan(Track.VOORZORG, INTAKE, edd, schedule=schedule())
    r = retime(p, edd - WEEK, [1, 2, 5], schedule=schedule(), missed_sequences=[3])
    assert [r.visit(s).status for s in (1, 2, 3, 4, 5)] == [
        VisitStatus.DONE,
        VisitStatus.DONE,
        VisitStatus.MISSED,
        VisitStatus.PLANNED,  # not recorded: stays as it was, for progress to count
        VisitStatus.DONE,
    ]
    gap = timedelta(days=schedule().retime_min_gap_days)
    assert r.visits[5].planned_date >= p.visit(5).planned_date + gap


def test_retime_with_nothing_recorded_is_a_new_plan_on_the_birth() -> None:
    edd = edd_for(16 * 7)
    p = plan(Track.VOORZORG, INTAKE, edd, schedule=schedule())
    r = retime(p, edd - WEEK, [], schedule=schedule())
    fresh = plan(Track.VOORZORG, INTAKE, edd, edd - WEEK, schedule=schedule())
    assert r.visits == fresh.visits


def test_retime_after_the_whole_plan_was_recorded_is_flagged_not_hidden() -> None:
    # Unusual: the birth is entered when every visit up to the 2nd birthday is already recorded, and it
    # was 3 weeks later than expected, so the plan gets one more monthly visit after the old end.
    edd = edd_for(150)
    p = plan(Track.VOORZORG, INTAKE, edd, schedule=schedule())
    r = retime(p, edd + 3 * WEEK, [v.sequence for v in p.visits], schedule=schedule())
    assert r.visit_count == 61
    assert r.flags == (AdjustmentKind.RETIMED, AdjustmentKind.OVER_MAX)
    assert all(r.visit(v.sequence).status is VisitStatus.DONE for v in p.visits)


def test_retime_refuses_a_birth_before_a_pregnant_intake() -> None:
    p = plan(Track.LATE_START, INTAKE, edd_for(270), schedule=schedule())
    with pytest.raises(ValueError, match="before the intake"):
        retime(p, INTAKE - timedelta(days=1), [1], schedule=schedule())


def test_records_must_name_visits_of_the_plan_once() -> None:
    p = plan(Track.VOORZORG, INTAKE, edd_for(100), schedule=schedule())
    with pytest.raises(ValueError, match="not in the plan"):
        progress(p, INTAKE, [999], schedule=schedule())
    with pytest.raises(ValueError, match="both as done and as missed"):
        retime(p, edd_for(100), [1, 2], schedule=schedule(), missed_sequences=[2])


def test_progress_per_phase_and_on_track() -> None:
    edd = edd_for(16 * 7)
    p = plan(Track.VOORZORG, INTAKE, edd, schedule=schedule())
    on = INTAKE + timedelta(days=70)  # 4 weekly + visits at 35, 49, 63 are due
    pr = progress(p, on, done=[1, 2, 3, 4, 5, 7], missed=[6], schedule=schedule())
    start, preg = pr.phase("pregnancy-start"), pr.phase("pregnancy")
    assert (start.planned, start.done, start.missed, start.upcoming) == (4, 4, 0, 0)
    assert (preg.planned, preg.done, preg.missed, preg.unrecorded, preg.upcoming) == (10, 2, 1, 0, 7)
    assert pr.due == 7 and pr.late == 1 and pr.on_track  # 1 of 7 <= 20%
    assert pr.planned == 60 and pr.upcoming == 60 - 7
    behind = progress(p, on, done=[1, 2, 3, 4, 5], missed=[6, 7], schedule=schedule())
    assert not behind.on_track  # 2 of 7 > 20%
    # Unrecorded visits count against the plan only after the grace period.
    fresh = progress(p, INTAKE + timedelta(days=7), done=[1], schedule=schedule())
    assert fresh.phase("pregnancy-start").unrecorded == 1 and fresh.on_track
    stale = progress(p, INTAKE + timedelta(days=30), done=[1], schedule=schedule())
    assert stale.late == 2 and not stale.on_track


def test_progress_reads_records_kept_by_retime() -> None:
    edd = edd_for(16 * 7)
    p = plan(Track.VOORZORG, INTAKE, edd, schedule=schedule())
    r = retime(p, edd - WEEK, [1, 2, 3], schedule=schedule(), missed_sequences=[4])
    pr = progress(r, INTAKE + timedelta(days=22), schedule=schedule())
    assert pr.done == 3 and pr.missed == 1


def test_voorzorg_verder_continues_monthly_after_the_2nd_birthday() -> None:
    edd = edd_for(16 * 7)
    p = plan(Track.VOORZORG, INTAKE, edd, schedule=schedule())
    v = continuation(p, schedule=schedule())
    assert v.track is Track.VOORZORG_VERDER and v.intake_date == p.end_date
    assert [x.planned_date for x in v.visits] == [add_months(edd, m) for m in range(25, 37)]
    assert v.adjustments == ()  # 12 visits: not bound by 40-60, so not flagged


def test_tracks_without_a_schedule_are_refused() -> None:
    with pytest.raises(ValueError, match="no visit schedule for track consult"):
        plan(Track.CONSULT, INTAKE, edd_for(100), schedule=schedule())
    with pytest.raises(ValueError, match="expected date of delivery"):
        plan(Track.VOORZORG, INTAKE, schedule=schedule())


def _schedule_with(change: dict[str, Any]) -> Schedule:
    data = copy.deepcopy(schedule_data())
    for path, value in change.items():
        node = data
        *parents, last = path.split(".")
        for key in parents:
            node = node[key]
        node[last] = value
    return load_schedule(data, full_term_days=FULL_TERM)


def test_too_many_visits_that_cannot_be_thinned_are_flagged() -> None:
    s = _schedule_with({"thinning.phases": []})
    p = plan(Track.VOORZORG, INTAKE, edd_for(56), schedule=s)
    assert p.visit_count == 69
    assert p.flags == (AdjustmentKind.OVER_MAX,)
    assert "69 visits planned, more than 60" in p.adjustments[0].note


def test_too_few_visits_are_flagged() -> None:
    s = _schedule_with({"visit_limits": {"min": 50, "max": 60}})
    p = plan(Track.LATE_START, INTAKE, actual_birth=INTAKE - 6 * WEEK, schedule=s)
    assert p.visit_count == 47
    assert p.flags == (AdjustmentKind.UNDER_MIN,)


def test_schedule_rejects_unknown_thinning_and_unsafe_shares() -> None:
    with pytest.raises(ValueError, match="drop-spread"):
        _schedule_with({"thinning.method": "drop-every-3rd"})
    with pytest.raises(ValueError, match="in no track"):
        _schedule_with({"thinning.phases": ["infant"]})
    with pytest.raises(ValueError, match="max_drop_share"):
        _schedule_with({"thinning.max_drop_share": 0.6})


@pytest.mark.parametrize(
    ("d", "months", "expected"),
    [
        (date(2025, 1, 31), 1, date(2025, 2, 28)),
        (date(2024, 1, 31), 1, date(2024, 2, 29)),
        (date(2024, 2, 29), 24, date(2026, 2, 28)),
        (date(2025, 11, 15), 2, date(2026, 1, 15)),
    ],
)
def test_add_months_clamps_to_the_month_end(d: date, months: int, expected: date) -> None:
    assert add_months(d, months) == expected


# --- what the plan says, whole: notes and purposes against mappings/visit-schedule.yaml -------------------


def note(key: str, **values: object) -> str:
    return str(schedule_data()["notes"][key]).format(**values)


def phase_data(track: str, name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(p for p in schedule_data()["tracks"][track]["phases"] if p["name"] == name)
    return found


def test_every_visit_says_its_purpose_the_first_of_a_phase_its_own() -> None:
    edd = edd_for(20 * 7)
    moment = INTAKE + timedelta(days=40)
    p = plan(Track.VOORZORG, INTAKE, edd, schedule=schedule(), evaluation_moments=[moment])
    for v in p.visits:
        if v.kind is VisitKind.EVALUATION:
            assert v.purpose == schedule_data()["evaluation_purpose"]
            continue
        rule = phase_data("voorzorg", v.phase)
        first_of_phase = v.planned_date == min(dates(p, v.phase))
        expected = rule.get("first_purpose", rule["purpose"]) if first_of_phase else rule["purpose"]
        assert (v.purpose, v.kind) == (expected, VisitKind.HOME_VISIT), v
    assert p.visits[0].purpose == phase_data("voorzorg", "pregnancy-start")["first_purpose"]
    assert p.visits[1].purpose == phase_data("voorzorg", "pregnancy-start")["purpose"]


def test_late_start_opens_with_the_priority_overview_then_weekly_home_visits() -> None:
    p = plan(Track.LATE_START, INTAKE, edd_for(30 * 7), schedule=schedule())
    weekly = phase_data("late-start", "late-start-weekly")
    first, second = p.visits[0], p.visits[1]
    assert (first.kind, first.purpose, first.modules) == (
        VisitKind.PRIORITY_OVERVIEW,
        weekly["first_purpose"],
        ("late-start",),
    )
    assert (second.kind, second.purpose) == (VisitKind.HOME_VISIT, weekly["purpose"])
    # The priority overview is a home visit that counts toward 40-60.
    assert p.visit_count == sum(1 for v in p.visits if v.kind is not VisitKind.EVALUATION) == 60


def test_the_thinning_note_tells_what_was_left_out() -> None:
    p = plan(Track.VOORZORG, INTAKE, edd_for(16 * 7), schedule=schedule())
    full = plan(Track.VOORZORG, INTAKE, edd_for(16 * 7), schedule=_schedule_with({"thinning.phases": []}))
    n = len(dates(full, "infancy"))
    assert n == 42  # two-weekly from 8 weeks to 21 months
    assert p.adjustments[0].note == note(
        "thinned", phase="infancy", dropped=5, count=n, interval=14, widest=28, max=60, before=65, after=60
    )


def test_thinning_leaves_out_the_visits_the_drop_spread_rule_names() -> None:
    """visit-schedule.yaml: of n visits, visit floor((j + 1/2) * n / k) for j < k is left out."""
    edd = edd_for(56)
    full = dates(
        plan(Track.VOORZORG, INTAKE, edd, schedule=_schedule_with({"thinning.phases": []})), "infancy"
    )
    n, k = len(full), 9
    left_out = {int((j + 0.5) * n / k) for j in range(k)}
    expected = [d for i, d in enumerate(full) if i not in left_out]
    assert dates(plan(Track.VOORZORG, INTAKE, edd, schedule=schedule()), "infancy") == expected


def test_over_max_and_under_min_notes() -> None:
    over = plan(Track.VOORZORG, INTAKE, edd_for(56), schedule=_schedule_with({"thinning.phases": []}))
    assert over.adjustments[0].note == note("over-max", count=69, max=60)
    s = _schedule_with({"visit_limits": {"min": 50, "max": 60}})
    under = plan(Track.LATE_START, INTAKE, actual_birth=INTAKE - 6 * WEEK, schedule=s)
    assert under.adjustments[0].note == note("under-min", count=47, min=50)


def test_a_plan_exactly_at_the_minimum_or_the_maximum_is_not_flagged() -> None:
    # Late Start six weeks after birth holds 47 visits: with 47 as the minimum it is within the limits.
    born = INTAKE - 6 * WEEK
    at_min = plan(
        Track.LATE_START, INTAKE, actual_birth=born, schedule=_schedule_with({"visit_limits.min": 47})
    )
    assert (at_min.visit_count, at_min.adjustments) == (47, ())
    one_short = _schedule_with({"visit_limits.min": 48})
    assert plan(Track.LATE_START, INTAKE, actual_birth=born, schedule=one_short).flags == (
        AdjustmentKind.UNDER_MIN,
    )
    # ... and with 47 as the maximum nothing needs thinning.
    at_max = plan(
        Track.LATE_START, INTAKE, actual_birth=born, schedule=_schedule_with({"visit_limits.max": 47})
    )
    assert (at_max.visit_count, at_max.adjustments) == (47, ())


def test_a_voorzorg_intake_at_28_plus_0_names_the_window_it_is_outside_of() -> None:
    p = plan(Track.VOORZORG, INTAKE, edd_for(196), schedule=schedule())
    assert p.adjustments[0].note == note(
        "outside-window",
        timing="at 28+0 weeks pregnant",
        track="voorzorg",
        window="until 27+6 weeks pregnant, not after birth",
    )


def test_a_late_start_intake_at_27_plus_6_or_43_days_after_birth_is_outside_its_window() -> None:
    window = "from 28+0 weeks pregnant, until the child is 42 days old"
    early = plan(Track.LATE_START, INTAKE, edd_for(195), schedule=schedule())
    assert early.adjustments[0].note == note(
        "outside-window", timing="at 27+6 weeks pregnant", track="late-start", window=window
    )
    assert plan(Track.LATE_START, INTAKE, edd_for(196), schedule=schedule()).flags[:1] != (
        AdjustmentKind.OUTSIDE_WINDOW,
    )
    late = plan(Track.LATE_START, INTAKE, actual_birth=INTAKE - timedelta(days=43), schedule=schedule())
    assert late.adjustments[0].note == note(
        "outside-window", timing="with the child 43 days old", track="late-start", window=window
    )


def test_a_birth_on_the_intake_day_is_an_intake_after_birth() -> None:
    # Late Start can start on the day of birth (the child is 0 days old) ...
    same_day = plan(Track.LATE_START, INTAKE, actual_birth=INTAKE, schedule=schedule())
    assert AdjustmentKind.OUTSIDE_WINDOW not in same_day.flags
    assert same_day.visits[0].planned_date == INTAKE
    # ... regular VoorZorg cannot start after birth: flagged as an intake with a child of 0 days.
    voorzorg = plan(Track.VOORZORG, INTAKE, edd_for(190), actual_birth=INTAKE, schedule=schedule())
    assert voorzorg.adjustments[0].note == note(
        "outside-window",
        timing="with the child 0 days old",
        track="voorzorg",
        window="until 27+6 weeks pregnant, not after birth",
    )


def test_a_window_without_limits_on_pregnancy_or_birth_names_what_it_has() -> None:
    data = copy.deepcopy(schedule_data())
    data["tracks"]["voorzorg"]["intake_window"] = {
        "min_ga_days": 100,
        "max_ga_days": 195,
        "max_child_age_days": 0,
    }
    p = plan(Track.VOORZORG, INTAKE, edd_for(99), schedule=load_schedule(data, full_term_days=FULL_TERM))
    assert p.adjustments[0].note == note(
        "outside-window",
        timing="at 14+1 weeks pregnant",
        track="voorzorg",
        window="from 14+2 weeks pregnant, until 27+6 weeks pregnant, until the child is 0 days old",
    )
    for inside in (
        plan(Track.VOORZORG, INTAKE, edd_for(100), schedule=load_schedule(data, full_term_days=FULL_TERM)),
        plan(
            Track.VOORZORG,
            INTAKE,
            actual_birth=INTAKE,
            schedule=load_schedule(data, full_term_days=FULL_TERM),
        ),
    ):
        assert AdjustmentKind.OUTSIDE_WINDOW not in inside.flags


# --- re-timing ------------------------------------------------------------------------------------------


def _retimed_note(r: VisitPlan, previous: date, shift: str, kept: int, split: str) -> str:
    return note(
        "retimed",
        actual_birth=r.actual_birth.isoformat() if r.actual_birth else "",
        previous_birth=previous.isoformat(),
        shift=shift,
        kept=kept,
        split=split,
        replanned=sum(1 for v in r.visits if v.sequence > kept),
    )


def test_the_retime_note_tells_the_shift_what_was_kept_and_what_was_planned_again() -> None:
    edd = edd_for(16 * 7)
    p = plan(Track.VOORZORG, INTAKE, edd, schedule=schedule())
    early = retime(p, edd - 3 * WEEK, [1, 2, 3], schedule=schedule())
    assert early.adjustments[0].note == _retimed_note(
        early, edd, "21 days early", 3, p.visit(3).planned_date.isoformat()
    )
    late = retime(p, edd + timedelta(days=1), [1, 2], schedule=schedule(), missed_sequences=[4])
    assert late.adjustments[0].note == _retimed_note(
        late, edd, "1 days late", 4, p.visit(4).planned_date.isoformat()
    )
    same = retime(p, edd, [], schedule=schedule())
    assert same.adjustments[0].note == _retimed_note(same, edd, "the same day", 0, "the intake")
    assert sum(1 for v in same.visits if v.sequence > 0) == len(same.visits)


def test_retime_refuses_a_birth_before_a_pregnant_intake_and_says_what_to_do() -> None:
    p = plan(Track.LATE_START, INTAKE, edd_for(270), schedule=schedule())
    message = (
        f"actual birth {INTAKE - timedelta(days=1)} is before the intake {INTAKE}, "
        "where she was pregnant: correct the intake or plan anew with the birth"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        retime(p, INTAKE - timedelta(days=1), [1], schedule=schedule())
    # A birth on the intake day is no contradiction.
    assert retime(p, INTAKE, [1], schedule=schedule()).actual_birth == INTAKE


def test_the_first_visit_planned_again_is_at_least_the_minimum_gap_after_the_last_record() -> None:
    edd = edd_for(16 * 7)
    p = plan(Track.VOORZORG, INTAKE, edd, schedule=schedule())
    last = p.visit(14)  # the last pregnancy visit, recorded after a birth entered late
    gap = schedule_data()["retime"]["min_gap_days"]
    assert gap == 4
    # Born 3 days before it: the first postpartum visit (birth + 7) falls exactly 4 days after it and stays.
    exactly = retime(p, last.planned_date - timedelta(days=3), range(1, 15), schedule=schedule())
    assert exactly.visit(15).planned_date == last.planned_date + timedelta(days=gap)
    # Born 4 days before it: birth + 7 is only 3 days after the last record and is left out.
    closer = retime(p, last.planned_date - timedelta(days=4), range(1, 15), schedule=schedule())
    assert closer.visit(15).planned_date == last.planned_date + timedelta(days=3 + 7)


def test_an_evaluation_moment_on_the_day_of_the_last_record_is_kept_once() -> None:
    edd = edd_for(16 * 7)
    p = plan(Track.VOORZORG, INTAKE, edd, schedule=schedule(), evaluation_moments=[INTAKE + 2 * WEEK])
    assert [v.kind for v in p.visits[2:4]] == [VisitKind.HOME_VISIT, VisitKind.EVALUATION]
    r = retime(p, edd - WEEK, [1, 2, 3], schedule=schedule())
    evaluations = [v for v in r.visits if v.kind is VisitKind.EVALUATION]
    assert [(v.sequence, v.planned_date) for v in evaluations] == [(4, INTAKE + 2 * WEEK)]


def test_voorzorg_verder_after_a_retimed_birth_runs_on_the_actual_birth() -> None:
    edd = edd_for(16 * 7)
    born = edd - 2 * WEEK
    r = retime(plan(Track.VOORZORG, INTAKE, edd, schedule=schedule()), born, [1], schedule=schedule())
    v = continuation(r, schedule=schedule())
    assert (v.expected_birth, v.actual_birth, v.intake_date) == (edd, born, add_months(born, 24))
    assert [x.planned_date for x in v.visits] == [add_months(born, m) for m in range(25, 37)]
    assert v.end_date == add_months(born, 36)
    purpose = phase_data("voorzorg-verder", "continuation")["purpose"]
    assert all((x.phase, x.purpose) == ("continuation", purpose) for x in v.visits)


# --- revising after a new decision ------------------------------------------------------------------------


def test_the_revise_note_tells_what_was_kept_and_planned_in_the_new_rhythm() -> None:
    edd = edd_for(20 * 7)
    p = plan(Track.VOORZORG, INTAKE, edd, schedule=schedule())
    moments = [INTAKE + 10 * WEEK, INTAKE + 20 * WEEK]
    r = revise(
        p, Track.VOORZORG_2, [1, 2], schedule=schedule(), missed_sequences=[3], evaluation_moments=moments
    )
    assert r.track is Track.VOORZORG_2
    assert r.adjustments[0].note == note(
        "revised",
        previous="voorzorg",
        track="voorzorg-2",
        kept=3,
        replanned=sum(1 for v in r.visits if v.sequence > 3),
        evaluations=2,
    )
    assert [v.planned_date for v in r.visits if v.kind is VisitKind.EVALUATION] == moments
    replanned = [v for v in r.visits if v.sequence > 3 and v.kind is VisitKind.HOME_VISIT]
    assert all(v.modules == ("earlier-children", "parenting") for v in replanned)


def test_revise_carries_the_window_and_retime_notes_but_plans_its_own_thinning() -> None:
    edd = edd_for(150)
    p = plan(Track.LATE_START, INTAKE, edd, schedule=schedule())  # before 28 weeks: outside the window
    done = [v.sequence for v in p.visits if v.planned_date < edd - WEEK]
    r = retime(p, edd - WEEK, done, schedule=schedule())
    assert r.flags == (AdjustmentKind.OUTSIDE_WINDOW, AdjustmentKind.RETIMED, AdjustmentKind.THINNED)
    revised = revise(r, Track.VOORZORG, done, schedule=schedule())
    assert revised.adjustments[:2] == r.adjustments[:2]
    assert revised.flags == (
        AdjustmentKind.OUTSIDE_WINDOW,
        AdjustmentKind.RETIMED,
        AdjustmentKind.REVISED,
        AdjustmentKind.THINNED,
    )
    assert revised.adjustments[3] != r.adjustments[2]  # thinned anew, in the new rhythm


def test_revise_accepts_evaluation_moments_from_the_intake_to_the_plan_end_only() -> None:
    edd = edd_for(20 * 7)
    p = plan(Track.VOORZORG, INTAKE, edd, schedule=schedule())
    edges = revise(p, Track.VOORZORG, [], schedule=schedule(), evaluation_moments=[INTAKE, p.end_date])
    assert [v.planned_date for v in edges.visits if v.kind is VisitKind.EVALUATION] == [INTAKE, p.end_date]
    for outside in (INTAKE - timedelta(days=1), p.end_date + timedelta(days=1)):
        message = f"evaluation moments [{outside!r}] are outside the plan period {INTAKE}..{p.end_date}"
        with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
            revise(p, Track.VOORZORG, [], schedule=schedule(), evaluation_moments=[outside])


def test_a_new_evaluation_moment_must_come_after_the_last_recorded_visit() -> None:
    p = plan(Track.VOORZORG, INTAKE, edd_for(20 * 7), schedule=schedule())
    last = p.visit(3).planned_date
    with pytest.raises(ValueError, match="not after the last recorded visit"):
        revise(p, Track.VOORZORG, [1, 2, 3], schedule=schedule(), evaluation_moments=[last])
    r = revise(
        p, Track.VOORZORG, [1, 2, 3], schedule=schedule(), evaluation_moments=[last + timedelta(days=1)]
    )
    assert r.visit(4).kind is VisitKind.EVALUATION


def test_a_plan_that_ends_by_the_intake_keeps_that_end_when_retimed_or_revised() -> None:
    """The plan end is schedule data: a track may end relative to the intake rather than the birth."""
    data = copy.deepcopy(schedule_data())
    for track in ("voorzorg", "voorzorg-2"):
        data["tracks"][track]["end"] = {"anchor": "intake", "months": 30}
    s = load_schedule(data, full_term_days=FULL_TERM)
    edd = edd_for(20 * 7)
    p = plan(Track.VOORZORG, INTAKE, edd, schedule=s)
    assert p.end_date == add_months(INTAKE, 30)
    assert retime(p, edd - WEEK, [1], schedule=s).end_date == add_months(INTAKE, 30)
    assert revise(p, Track.VOORZORG_2, [1], schedule=s).end_date == add_months(INTAKE, 30)


def test_the_revised_plan_ends_where_the_new_tracks_schedule_ends() -> None:
    data = copy.deepcopy(schedule_data())
    data["tracks"]["voorzorg-2"]["end"] = {"anchor": "birth", "months": 30}
    s = load_schedule(data, full_term_days=FULL_TERM)
    edd = edd_for(20 * 7)
    p = plan(Track.VOORZORG, INTAKE, edd, schedule=s)
    assert revise(p, Track.VOORZORG_2, [1], schedule=s).end_date == add_months(edd, 30)


# --- evaluation moments: the phase they fall in ------------------------------------------------------------


def test_an_evaluation_moment_belongs_to_the_phase_of_the_last_visit_on_or_before_it() -> None:
    first_pregnancy_visit = INTAKE + timedelta(days=35)
    moments = [first_pregnancy_visit - timedelta(days=1), first_pregnancy_visit]
    p = plan(Track.VOORZORG, INTAKE, edd_for(20 * 7), schedule=schedule(), evaluation_moments=moments)
    assert [v.phase for v in p.visits if v.kind is VisitKind.EVALUATION] == ["pregnancy-start", "pregnancy"]


def test_an_evaluation_moment_before_the_first_visit_belongs_to_the_first_visits_phase() -> None:
    # VoorZorg Verder starts on the 2nd birthday; its first visit is a month later.
    edd = edd_for(16 * 7)
    start = add_months(edd, 24)
    v = plan(
        Track.VOORZORG_VERDER, start, edd, schedule=schedule(), evaluation_moments=[start + timedelta(days=3)]
    )
    assert (v.visits[0].kind, v.visits[0].phase, v.visits[0].sequence) == (
        VisitKind.EVALUATION,
        "continuation",
        1,
    )


# --- progress ---------------------------------------------------------------------------------------------


def test_an_unrecorded_visit_is_late_from_the_day_after_its_grace_period() -> None:
    p = plan(Track.VOORZORG, INTAKE, edd_for(16 * 7), schedule=schedule())
    grace = schedule_data()["on_track"]["unrecorded_grace_days"]
    # Visit 1 (the intake day) unrecorded, visit 2 (a week later) done; nothing else due yet.
    last_day = progress(p, INTAKE + timedelta(days=grace), done=[2, 3], schedule=schedule())
    assert (last_day.due, last_day.late) == (3, 0)
    day_after = progress(p, INTAKE + timedelta(days=grace + 1), done=[2, 3], schedule=schedule())
    assert (day_after.due, day_after.late) == (3, 1)


def test_a_fifth_of_the_due_visits_missed_is_still_on_track() -> None:
    p = plan(Track.VOORZORG, INTAKE, edd_for(16 * 7), schedule=schedule())
    on = INTAKE + timedelta(days=35)  # visits 1-5 are due
    exactly = progress(p, on, done=[1, 2, 3, 4], missed=[5], schedule=schedule())
    assert (exactly.on_date, exactly.due, exactly.late, exactly.on_track) == (on, 5, 1, True)
    more = progress(p, on, done=[1, 2, 3], missed=[4, 5], schedule=schedule())
    assert (more.late, more.on_track) == (2, False)


def test_before_anything_is_due_the_plan_is_on_track() -> None:
    p = plan(Track.VOORZORG, INTAKE, edd_for(16 * 7), schedule=schedule())
    pr = progress(p, INTAKE - timedelta(days=1), schedule=schedule())
    assert (pr.due, pr.late, pr.on_track, pr.upcoming) == (0, 0, True, 60)


def test_asking_for_a_visit_or_phase_the_plan_does_not_have_names_it() -> None:
    p = plan(Track.VOORZORG, INTAKE, edd_for(16 * 7), schedule=schedule())
    with pytest.raises(KeyError) as visit:
        p.visit(61)
    assert visit.value.args == (61,)
    with pytest.raises(KeyError) as phase:
        progress(p, INTAKE, schedule=schedule()).phase("late-start-weekly")
    assert phase.value.args == ("late-start-weekly",)


# --- the schedule file: what load_schedule accepts ---------------------------------------------------------


def test_a_date_bound_with_an_unknown_key_is_refused() -> None:
    data = copy.deepcopy(schedule_data())
    data["tracks"]["voorzorg"]["phases"][1]["from"] = {"anchor": "intake", "day": 35}
    message = "date bound {'anchor': 'intake', 'day': 35}: unknown keys ['day']"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        load_schedule(data, full_term_days=FULL_TERM)


@pytest.mark.parametrize("every", [{}, {"days": 0}, {"days": -7}, {"days": 0, "months": 0}, {"months": -1}])
def test_a_rhythm_must_move_forward(every: dict[str, int]) -> None:
    data = copy.deepcopy(schedule_data())
    data["tracks"]["voorzorg"]["phases"][1]["every"] = every
    with pytest.raises(ValueError, match=r"^phase pregnancy: `every` must move forward$"):
        load_schedule(data, full_term_days=FULL_TERM)


@pytest.mark.parametrize(
    ("every", "until_days", "expected_days"),
    [({"days": 1}, 2, [0, 1, 2]), ({"months": 1}, 31, [0, 31])],  # 10 March + 1 month = 10 April
)
def test_a_rhythm_of_a_day_or_a_month_is_accepted(
    every: dict[str, int], until_days: int, expected_days: list[int]
) -> None:
    data = copy.deepcopy(schedule_data())
    data["tracks"]["voorzorg"]["phases"][0]["until"] = {"anchor": "intake", "days": until_days}
    data["tracks"]["voorzorg"]["phases"][0]["every"] = every
    data["thinning"]["phases"] = []
    p = plan(Track.VOORZORG, INTAKE, edd_for(100), schedule=load_schedule(data, full_term_days=FULL_TERM))
    assert dates(p, "pregnancy-start") == [INTAKE + timedelta(days=n) for n in expected_days]


def test_a_drop_share_of_0_is_allowed_and_thins_nothing() -> None:
    s = _schedule_with({"thinning.max_drop_share": 0})
    p = plan(Track.VOORZORG, INTAKE, edd_for(56), schedule=s)
    assert (p.visit_count, p.flags) == (69, (AdjustmentKind.OVER_MAX,))
    with pytest.raises(ValueError, match=r"^thinning.max_drop_share must be within \[0, 0.5\]"):
        _schedule_with({"thinning.max_drop_share": -0.01})
    assert _schedule_with({"thinning.max_drop_share": 0.5}).thinning.max_drop_share == 0.5


def test_schedule_errors_name_what_is_wrong() -> None:
    with pytest.raises(ValueError, match=r"^thinning method 'drop-every-3rd': only drop-spread is known$"):
        _schedule_with({"thinning.method": "drop-every-3rd"})
    with pytest.raises(ValueError, match=r"^thinning phases \['infant'\] are in no track$"):
        _schedule_with({"thinning.phases": ["infancy", "infant"]})
    with pytest.raises(
        ValueError, match=r"^no visit schedule for track consult: only voorzorg, voorzorg-2, "
    ):
        plan(Track.CONSULT, INTAKE, edd_for(100), schedule=schedule())


def test_limits_per_track_outrank_the_default_and_none_means_unbound() -> None:
    data = copy.deepcopy(schedule_data())
    data["tracks"]["late-start"]["visit_limits"] = {"min": 48, "max": 60}
    s = load_schedule(data, full_term_days=FULL_TERM)
    born = INTAKE - 6 * WEEK
    assert plan(Track.LATE_START, INTAKE, actual_birth=born, schedule=s).flags == (AdjustmentKind.UNDER_MIN,)
    assert plan(Track.VOORZORG, INTAKE, edd_for(195), schedule=s).adjustments == ()
    assert s.track(Track.LATE_START).limits == (48, 60)
    assert s.track(Track.VOORZORG).limits == (40, 60)
    assert s.track(Track.VOORZORG_VERDER).limits is None
    del data["visit_limits"]
    unbound = load_schedule(data, full_term_days=FULL_TERM)
    assert unbound.track(Track.VOORZORG).limits is None
    assert plan(Track.VOORZORG, INTAKE, edd_for(56), schedule=unbound).visit_count == 69


def test_the_schedule_reads_every_number_of_the_file() -> None:
    s = schedule()
    data = schedule_data()
    assert s.full_term_days == FULL_TERM == 280  # the eligibility rules' full term: one for decision and plan
    assert "full_term_days" not in data  # not a second copy in the schedule
    assert s.counted_kinds == {VisitKind.HOME_VISIT, VisitKind.PRIORITY_OVERVIEW}
    assert (s.thinning.method, s.thinning.phases, s.thinning.max_drop_share) == (
        "drop-spread",
        ("infancy", "pregnancy"),
        0.5,
    )
    assert (s.retime_min_gap_days, s.max_missed_share, s.unrecorded_grace_days) == (4, 0.2, 14)
    assert s.evaluation_purpose == data["evaluation_purpose"]
    assert dict(s.notes) == data["notes"]
    ls = s.track(Track.LATE_START)
    assert (ls.window.min_ga_days, ls.window.max_ga_days, ls.window.max_child_age_days) == (196, None, 42)  # type: ignore[union-attr]
    assert s.track(Track.VOORZORG_VERDER).window is None
    weekly = ls.phases[0]
    assert (weekly.name, weekly.first_kind, weekly.modules, weekly.every.days, weekly.every.months) == (
        "late-start-weekly",
        VisitKind.PRIORITY_OVERVIEW,
        ("late-start",),
        7,
        0,
    )
    assert s.track(Track.VOORZORG).phases[4].every.months == 1


# --- thinning, limits and the plan period at their edges -------------------------------------------------


def test_thinning_takes_at_most_the_share_of_each_phase_in_turn() -> None:
    s = _schedule_with({"thinning.max_drop_share": 0.1, "thinning.phases": ["pregnancy-start", "infancy"]})
    p = plan(Track.VOORZORG, INTAKE, edd_for(56), schedule=s)
    # pregnancy-start: 4 visits, a tenth is 0.4: none can go, and infancy is still thinned after it;
    # infancy: 42 visits, at most 4 of the 9 too many go; the other 5 are flagged.
    assert [(a.kind, a.phase, a.dropped) for a in p.adjustments] == [
        (AdjustmentKind.THINNED, "infancy", 4),
        (AdjustmentKind.OVER_MAX, None, 0),
    ]
    assert p.visit_count == 65


def test_thinning_a_phase_down_to_one_visit_says_so() -> None:
    # Toddler visits at 22 and 23 months only, and one visit too many: one of the two goes.
    data = copy.deepcopy(schedule_data())
    data["tracks"]["voorzorg"]["phases"][4]["until"] = {"anchor": "birth", "months": 23}
    data["thinning"]["phases"] = ["toddler"]
    data["visit_limits"] = {"min": 40, "max": 63}
    edd = edd_for(16 * 7)
    p = plan(Track.VOORZORG, INTAKE, edd, schedule=load_schedule(data, full_term_days=FULL_TERM))
    # Of n = 2 visits, k = 1 goes: visit floor(1/2 x 2 / 1) = 1, the second; no interval is left.
    assert dates(p, "toddler") == [add_months(edd, 22)]
    gap = (add_months(edd, 23) - add_months(edd, 22)).days
    assert p.adjustments[0].note == note(
        "thinned", phase="toddler", dropped=1, count=2, interval=gap, widest=0, max=63, before=64, after=63
    )


def test_what_counts_toward_the_limits_is_the_schedules_choice() -> None:
    s = _schedule_with({"counted_kinds": ["home-visit"]})
    p = plan(Track.LATE_START, INTAKE, actual_birth=INTAKE - 6 * WEEK, schedule=s)
    assert p.visits[0].kind is VisitKind.PRIORITY_OVERVIEW
    assert p.visit_count == 46  # the priority overview no longer counts
    assert p.counted_kinds == {VisitKind.HOME_VISIT}


def test_an_intake_on_the_plans_last_day_is_planned_the_day_after_is_refused() -> None:
    edd = edd_for(16 * 7)
    end = add_months(edd, 24)
    last = plan(Track.VOORZORG, end, edd, schedule=schedule(), evaluation_moments=[end])
    assert [(v.planned_date, v.kind) for v in last.visits] == [
        (end, VisitKind.HOME_VISIT),
        (end, VisitKind.EVALUATION),
    ]
    after = end + timedelta(days=1)
    with pytest.raises(
        ValueError, match=f"^{re.escape(f'intake {after} is after the plan' + chr(39) + f's end {end}')}$"
    ):
        plan(Track.VOORZORG, after, edd, schedule=schedule())
    with pytest.raises(
        ValueError, match=r"^a visit plan needs the expected date of delivery or the actual birth date$"
    ):
        plan(Track.VOORZORG, INTAKE, schedule=schedule())


def test_a_note_missing_from_the_schedule_says_its_key() -> None:
    s = _schedule_with({"notes": {}})
    assert plan(Track.VOORZORG, INTAKE, edd_for(56), schedule=s).adjustments[0].note == "thinned"
    data = copy.deepcopy(schedule_data())
    del data["notes"]
    assert (
        plan(Track.VOORZORG, INTAKE, edd_for(56), schedule=load_schedule(data, full_term_days=FULL_TERM))
        .adjustments[0]
        .note
        == "thinned"
    )


def test_every_phase_of_the_schedule_may_be_thinned() -> None:
    every_phase = sorted({p["name"] for t in schedule_data()["tracks"].values() for p in t["phases"]})
    s = _schedule_with({"thinning.phases": every_phase})
    assert set(s.thinning.phases) == set(every_phase)


def _verder_with(phases: list[dict[str, Any]]) -> Schedule:
    data = copy.deepcopy(schedule_data())
    data["tracks"]["voorzorg-verder"]["phases"] = phases
    return load_schedule(data, full_term_days=FULL_TERM)


def _monthly(name: str, first: int, last: int) -> dict[str, Any]:
    """A monthly phase from `first` to `last` months after birth."""
    return {
        "name": name,
        "from": {"anchor": "birth", "months": first},
        "until": {"anchor": "birth", "months": last},
        "every": {"months": 1},
        "purpose": name,
    }


def test_an_evaluation_moment_before_the_first_visit_takes_the_first_visits_phase() -> None:
    s = _verder_with([_monthly("a", 25, 25), _monthly("b", 26, 36)])
    edd = edd_for(16 * 7)
    start = add_months(edd, 24)
    v = plan(Track.VOORZORG_VERDER, start, edd, schedule=s, evaluation_moments=[start + timedelta(days=3)])
    assert [(x.kind, x.phase) for x in v.visits[:3]] == [
        (VisitKind.EVALUATION, "a"),
        (VisitKind.HOME_VISIT, "a"),
        (VisitKind.HOME_VISIT, "b"),
    ]


def test_an_evaluation_moment_in_a_plan_without_visits_is_in_the_phase_evaluation() -> None:
    s = _verder_with([_monthly("later", 37, 40)])
    edd = edd_for(16 * 7)
    start = add_months(edd, 24)
    v = plan(Track.VOORZORG_VERDER, start, edd, schedule=s, evaluation_moments=[start + timedelta(days=3)])
    assert [(x.sequence, x.kind, x.phase) for x in v.visits] == [(1, VisitKind.EVALUATION, "evaluation")]
