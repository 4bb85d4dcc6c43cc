"""Property-based checks of the visit plan over intake dates, GA at intake and birth offsets.

For every intake the tracks allow (VoorZorg and VoorZorg 2 at GA up to 27+6, Late Start from 28+0 until
6 weeks after birth) and a birth from 6 weeks early to 3 weeks late: 40–60 visits, all within the plan
period, strictly in date order, each phase in its rhythm (a thinned phase may skip single visits, so its
interval at most doubles). Re-timing keeps every recorded visit; a plan outside 40–60 must say so.
"""

from __future__ import annotations

import itertools
from datetime import date, timedelta

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapter.config import MAPPINGS_DIR
from adapter.domain.eligibility import Track
from adapter.domain.visitplan import (
    AdjustmentKind,
    Schedule,
    VisitKind,
    VisitPlan,
    VisitStatus,
    load_schedule,
    plan,
    progress,
    retime,
    revise,
)

SCHEDULE_DATA = yaml.safe_load((MAPPINGS_DIR / "visit-schedule.yaml").read_text(encoding="utf-8"))
FULL_TERM = int(
    yaml.safe_load((MAPPINGS_DIR / "eligibility.yaml").read_text(encoding="utf-8"))["full_term_days"]
)
# The rhythm in days per phase, read from the file itself (not through the code under test).
RHYTHM_DAYS = {
    p["name"]: p["every"]["days"]
    for t in SCHEDULE_DATA["tracks"].values()
    for p in t["phases"]
    if p["every"].get("days")
}


def schedule() -> Schedule:
    """Parsed per example: `load_schedule` is code under test (see test_visitplan.schedule)."""
    return load_schedule(SCHEDULE_DATA, full_term_days=FULL_TERM)


intakes = st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 12, 31))
birth_offsets = st.integers(-42, 21)  # actual birth relative to the EDD
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def intakes_allowed(draw: st.DrawFn) -> tuple[Track, date, date | None, date | None]:
    """(track, intake, EDD, actual birth) for an intake the track allows; the birth may be known."""
    intake = draw(intakes)
    track = draw(st.sampled_from([Track.VOORZORG, Track.VOORZORG_2, Track.LATE_START]))
    if track is Track.LATE_START and draw(st.booleans()):
        born = intake - timedelta(days=draw(st.integers(0, 42)))
        return track, intake, None, born
    ga = draw(st.integers(56, 195) if track is not Track.LATE_START else st.integers(196, 294))
    edd = intake + timedelta(days=280 - ga)
    actual = None
    if draw(st.booleans()):
        actual = edd + timedelta(days=draw(birth_offsets))
        if actual <= intake:  # born before an intake planned while pregnant: not this case
            actual = None
    return track, intake, edd, actual


def check_rhythm(visits: list[tuple[str, date]], thinned: set[str]) -> None:
    """Consecutive visits of one phase keep its interval; a thinned phase may skip single visits."""
    for (pa, a), (pb, b) in itertools.pairwise(visits):
        if pa != pb:
            continue
        gap = (b - a).days
        every = RHYTHM_DAYS.get(pa)
        if every is None:  # calendar months
            assert 28 <= gap <= 31, (pa, a, b)
        elif pa in thinned:
            assert gap in (every, 2 * every), (pa, a, b)
        else:
            assert gap == every, (pa, a, b)


def check_shape(p: VisitPlan) -> None:
    home = [v for v in p.visits if v.kind is not VisitKind.EVALUATION]
    ds = [v.planned_date for v in home]
    assert all(a < b for a, b in itertools.pairwise(ds)), "home visits strictly in date order"
    assert all(p.intake_date <= v.planned_date <= p.end_date for v in p.visits)
    assert [v.sequence for v in p.visits] == list(range(1, len(p.visits) + 1))
    assert max((b - a).days for a, b in itertools.pairwise(ds)) <= 62  # never a long silence


@SETTINGS
@given(intakes_allowed())
def test_every_allowed_intake_gets_40_to_60_visits_in_rhythm(
    case: tuple[Track, date, date | None, date | None],
) -> None:
    track, intake, edd, actual = case
    p = plan(track, intake, edd, actual, schedule=schedule())
    assert 40 <= p.visit_count <= 60
    assert set(p.flags) <= {AdjustmentKind.THINNED}, p.adjustments
    check_shape(p)
    assert p.visits[0].planned_date == intake
    birth = actual or edd
    assert birth is not None
    assert p.end_date.month == birth.month and p.end_date.year == birth.year + 2
    thinned = {a.phase for a in p.adjustments if a.phase}
    check_rhythm([(v.phase, v.planned_date) for v in p.visits], thinned)
    if track is Track.LATE_START:
        assert p.visits[0].kind is VisitKind.PRIORITY_OVERVIEW
    for a in p.adjustments:  # the note's numbers are the plan's
        assert a.dropped > 0 and f"-> {p.visit_count}" in a.note


@SETTINGS
@given(intakes_allowed(), st.lists(st.integers(0, 800), max_size=4))
def test_evaluation_moments_do_not_move_home_visits(
    case: tuple[Track, date, date | None, date | None], offsets: list[int]
) -> None:
    track, intake, edd, actual = case
    base = plan(track, intake, edd, actual, schedule=schedule())
    moments = sorted(
        {intake + timedelta(days=o) for o in offsets if intake + timedelta(days=o) <= base.end_date}
    )
    p = plan(track, intake, edd, actual, schedule=schedule(), evaluation_moments=moments)
    assert [v.planned_date for v in p.visits if v.kind is VisitKind.EVALUATION] == moments
    assert [v.planned_date for v in p.visits if v.kind is not VisitKind.EVALUATION] == [
        v.planned_date for v in base.visits
    ]
    check_shape(p)


@st.composite
def retimings(draw: st.DrawFn) -> tuple[VisitPlan, date, list[int], list[int], bool]:
    """A plan made on the EDD, the actual birth, what was recorded, and whether that is the usual case:
    records only of visits before the birth, or at most two months after it (the birth learned late)."""
    intake = draw(intakes)
    track = draw(st.sampled_from([Track.VOORZORG, Track.VOORZORG_2, Track.LATE_START]))
    ga = draw(st.integers(56, 195) if track is not Track.LATE_START else st.integers(196, 280))
    edd = intake + timedelta(days=280 - ga)
    born = max(intake, edd + timedelta(days=draw(birth_offsets)))
    evaluations = draw(st.lists(st.integers(0, 700), max_size=2))
    p = plan(
        track,
        intake,
        edd,
        schedule=schedule(),
        evaluation_moments=[intake + timedelta(days=d) for d in evaluations],
    )
    usual = draw(st.booleans())
    known = born + timedelta(days=draw(st.integers(0, 60)))
    pool = [v.sequence for v in p.visits if not usual or v.planned_date < known]
    recorded = draw(st.lists(st.sampled_from(pool), unique=True)) if pool else []
    missed = draw(st.lists(st.sampled_from(recorded), unique=True)) if recorded else []
    done = [s for s in recorded if s not in missed]
    return p, born, done, missed, usual


@SETTINGS
@given(retimings())
def test_retime_keeps_every_record_and_stays_within_limits_or_flags(
    case: tuple[VisitPlan, date, list[int], list[int], bool],
) -> None:
    p, born, done, missed, usual = case
    r = retime(p, born, done, schedule=schedule(), missed_sequences=missed)
    for s in done:
        assert r.visit(s).planned_date == p.visit(s).planned_date
        assert r.visit(s).status is VisitStatus.DONE
    for s in missed:
        assert r.visit(s).status is VisitStatus.MISSED
    assert r.visit_count >= len(done)
    assert r.actual_birth == born
    assert r.flags.count(AdjustmentKind.RETIMED) == 1
    if AdjustmentKind.OVER_MAX in r.flags:
        assert r.visit_count > 60
    elif AdjustmentKind.UNDER_MIN in r.flags:
        assert r.visit_count < 40
    else:
        assert 40 <= r.visit_count <= 60
    if usual:  # records only until shortly after the birth: always within 40-60, no flag needed
        assert 40 <= r.visit_count <= 60
        assert not {AdjustmentKind.OVER_MAX, AdjustmentKind.UNDER_MIN} & set(r.flags)
    home = [v.planned_date for v in r.visits if v.kind is not VisitKind.EVALUATION]
    assert all(a < b for a, b in itertools.pairwise(home))
    # The re-planned part keeps the rhythm around the actual birth.
    recorded = set(done) | set(missed)
    last = max((r.visit(s).planned_date for s in recorded), default=None)
    replanned = [
        (v.phase, v.planned_date)
        for v in r.visits
        if v.kind is not VisitKind.EVALUATION and (last is None or v.planned_date > last)
    ]
    gap = timedelta(days=schedule().retime_min_gap_days)
    assert all(last is None or d >= last + gap for _, d in replanned)
    assert all(d <= r.end_date for _, d in replanned)
    check_rhythm(replanned, {a.phase for a in r.adjustments if a.phase})
    post = [d for ph, d in replanned if ph == "postpartum-early"]
    assert all((d - born).days % 7 == 0 and 7 <= (d - born).days <= 42 for d in post)


@SETTINGS
@given(intakes_allowed(), st.sampled_from([Track.VOORZORG, Track.VOORZORG_2, Track.LATE_START]), st.data())
def test_revision_keeps_every_record_adds_the_evaluation_moments_and_stays_one_plan(
    case: tuple[Track, date, date | None, date | None], new_track: Track, data: st.DataObject
) -> None:
    track, intake, edd, actual = case
    p = plan(track, intake, edd, actual, schedule=schedule())
    early = [v.sequence for v in p.visits[:12]]  # a consult's advice comes within the first months
    recorded = data.draw(st.lists(st.sampled_from(early), unique=True))
    missed = recorded[: data.draw(st.integers(0, len(recorded)))]
    done = [s for s in recorded if s not in missed]
    moments = data.draw(
        st.lists(st.integers(30, 600).map(lambda d: intake + timedelta(days=d)), unique=True, max_size=4)
    )
    last = max((p.visit(s).planned_date for s in recorded), default=None)
    if any(last is not None and m <= last for m in moments):
        with pytest.raises(ValueError, match="not after the last recorded visit"):
            revise(
                p, new_track, done, schedule=schedule(), missed_sequences=missed, evaluation_moments=moments
            )
        moments = [m for m in moments if last is None or m > last]
    moments = [m for m in moments if m <= p.end_date]
    r = revise(p, new_track, done, schedule=schedule(), missed_sequences=missed, evaluation_moments=moments)
    assert r.track is new_track and r.intake_date == p.intake_date
    for s in done:
        assert r.visit(s).planned_date == p.visit(s).planned_date and r.visit(s).status is VisitStatus.DONE
    for s in missed:
        assert r.visit(s).status is VisitStatus.MISSED
    evaluations = [v.planned_date for v in r.visits if v.kind is VisitKind.EVALUATION]
    assert sorted(moments) == sorted(evaluations)
    assert [v.sequence for v in r.visits] == list(range(1, len(r.visits) + 1))
    assert all(intake <= v.planned_date <= r.end_date for v in r.visits)
    if not {AdjustmentKind.OVER_MAX, AdjustmentKind.UNDER_MIN} & set(r.flags):
        assert 40 <= r.visit_count <= 60
    assert AdjustmentKind.REVISED in r.flags


@SETTINGS
@given(intakes_allowed(), st.integers(0, 900), st.data())
def test_progress_accounts_for_every_visit(
    case: tuple[Track, date, date | None, date | None], day: int, data: st.DataObject
) -> None:
    track, intake, edd, actual = case
    p = plan(track, intake, edd, actual, schedule=schedule())
    seqs = [v.sequence for v in p.visits]
    recorded = data.draw(st.lists(st.sampled_from(seqs), unique=True))
    split = data.draw(st.integers(0, len(recorded)))
    done, missed = recorded[:split], recorded[split:]
    on = intake + timedelta(days=day)
    pr = progress(p, on, done, missed, schedule=schedule())
    assert pr.on_date == on
    assert pr.planned == len(p.visits)
    for ph in pr.phases:
        assert ph.done + ph.missed + ph.unrecorded + ph.upcoming == ph.planned
    assert pr.done == len(done) and pr.missed == len(missed)
    # Due and late worked out from the plan and the records alone (the schedule's numbers from the file):
    # due = every recorded visit and every unrecorded one dated on or before the day; late = the missed
    # ones and the unrecorded ones whose grace period ended before the day.
    grace = timedelta(days=SCHEDULE_DATA["on_track"]["unrecorded_grace_days"])
    unrecorded = [v for v in p.visits if v.sequence not in recorded and v.planned_date <= on]
    assert pr.due == len(recorded) + len(unrecorded)
    assert pr.late == len(missed) + sum(1 for v in unrecorded if v.planned_date + grace < on)
    assert pr.on_track == (pr.late <= SCHEDULE_DATA["on_track"]["max_missed_share"] * pr.due)
    all_done = progress(p, intake + timedelta(days=day), seqs, schedule=schedule())
    assert all_done.on_track and all_done.upcoming == 0
