"""The visit plan, case by case, against the domain page §3 and the issue's rhythm.

Expectations are derived from the rhythm as written (weekly for 4 weeks after intake, then two-weekly
until birth; weekly for 6 weeks after birth, two-weekly until 21 months, monthly until 24 months;
Late Start weekly until 8 weeks after birth), not copied from the code. GA = 280 − (EDD − intake).
"""

from __future__ import annotations

import copy
import itertools
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
)

INTAKE = date(2025, 3, 10)
WEEK = timedelta(days=7)


def schedule_data() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((MAPPINGS_DIR / "visit-schedule.yaml").read_text(encoding="utf-8"))
    return data


def schedule() -> Schedule:
    """The schedule, parsed anew for each test: `load_schedule` is code under test, so no test may rely
    on a copy parsed at import (under mutation testing that copy would predate the mutant)."""
    return load_schedule(schedule_data())


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
    return load_schedule(data)


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
