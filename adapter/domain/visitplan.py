"""The VoorZorg visit plan (domain page §3): 40–60 home visits from intake until the child is 2.

Pure: no I/O, no clock; every date is a parameter and the rhythm is data (`mappings/visit-schedule.yaml`,
parsed by `load_schedule`). A plan is the track's phases laid out from the intake and the birth, thinned
when it holds more than the maximum; whatever the rules cannot bring within 40–60 is flagged in
`VisitPlan.adjustments`, never hidden. `retime` moves the not-yet-recorded visits with the actual birth,
`progress` counts done / planned / missed per phase, `continuation` makes the VoorZorg Verder plan.
"""

from __future__ import annotations

import calendar
import itertools
import math
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

from adapter.domain.eligibility import Track
from adapter.domain.facts import gestational_age_on


class Anchor(StrEnum):
    INTAKE = "intake"
    BIRTH = "birth"  # the actual birth when known, else the expected date of delivery


class VisitKind(StrEnum):
    HOME_VISIT = "home-visit"
    PRIORITY_OVERVIEW = "priority-overview"  # Late Start's first visit
    EVALUATION = "evaluation"  # an agreed evaluation moment (forced framework)


class VisitStatus(StrEnum):
    PLANNED = "planned"
    DONE = "done"
    MISSED = "missed"


class AdjustmentKind(StrEnum):
    THINNED = "thinned"
    OVER_MAX = "over-max"
    UNDER_MIN = "under-min"
    OUTSIDE_WINDOW = "outside-window"
    RETIMED = "retimed"
    REVISED = "revised"


# Same-day visits: the home visit first, then an evaluation moment.
_KIND_ORDER = {VisitKind.PRIORITY_OVERVIEW: 0, VisitKind.HOME_VISIT: 0, VisitKind.EVALUATION: 1}


# --- the schedule (data) -------------------------------------------------------------------------


@dataclass(frozen=True)
class Offset:
    """A date relative to the intake or the birth: months first, then days."""

    anchor: Anchor
    days: int = 0
    months: int = 0

    def resolve(self, intake: date, birth: date) -> date:
        base = intake if self.anchor is Anchor.INTAKE else birth
        return add_months(base, self.months) + timedelta(days=self.days)


@dataclass(frozen=True)
class Interval:
    days: int = 0
    months: int = 0

    def nth(self, start: date, n: int) -> date:
        """The n-th date of the rhythm, counted from `start` (no drift from month-end clamping)."""
        return add_months(start, self.months * n) + timedelta(days=self.days * n)


@dataclass(frozen=True)
class PhaseRule:
    """One rhythm: visits on `from`, `from + every`, ... up to and including `until`.

    Several `starts` bounds: the latest applies; several `ends`: the earliest (pregnancy phases stop
    the day before the birth, whichever of their bounds comes first).
    """

    name: str
    starts: tuple[Offset, ...]
    ends: tuple[Offset, ...]
    every: Interval
    purpose: str
    first_purpose: str | None = None
    first_kind: VisitKind = VisitKind.HOME_VISIT
    modules: tuple[str, ...] = ()


@dataclass(frozen=True)
class IntakeWindow:
    """When the track can start: GA at a pregnant intake, child's age at an intake after birth."""

    min_ga_days: int | None = None
    max_ga_days: int | None = None
    max_child_age_days: int | None = None  # None: no intake after birth


@dataclass(frozen=True)
class TrackSchedule:
    track: Track
    phases: tuple[PhaseRule, ...]
    end: Offset
    limits: tuple[int, int] | None  # (min, max) counted visits; None: not bound (VoorZorg Verder)
    window: IntakeWindow | None = None


@dataclass(frozen=True)
class Thinning:
    method: str
    phases: tuple[str, ...]
    max_drop_share: float


@dataclass(frozen=True)
class Schedule:
    """Everything `mappings/visit-schedule.yaml` says; see that file for the meaning of each number."""

    full_term_days: int
    tracks: Mapping[Track, TrackSchedule]
    counted_kinds: frozenset[VisitKind]
    thinning: Thinning
    retime_min_gap_days: int
    max_missed_share: float
    unrecorded_grace_days: int
    evaluation_purpose: str
    notes: Mapping[str, str] = field(default_factory=dict)

    def track(self, track: Track) -> TrackSchedule:
        try:
            return self.tracks[track]
        except KeyError:
            raise ValueError(
                f"no visit schedule for track {track.value}: only {_names(self.tracks)}"
            ) from None

    def note(self, key: str, **values: object) -> str:
        return self.notes.get(key, key).format(**values)


def load_schedule(data: Mapping[str, Any], *, full_term_days: int) -> Schedule:
    """Parse the already-read `visit-schedule.yaml` (the caller reads the file: the domain does no I/O).

    `full_term_days` is the eligibility rules' (mappings/eligibility.yaml): one full term for the decision
    and the plan."""
    limits = data.get("visit_limits")
    default_limits = (int(limits["min"]), int(limits["max"])) if limits else None
    tracks: dict[Track, TrackSchedule] = {}
    for code, t in data["tracks"].items():
        track = Track(code)
        own = t.get("visit_limits", default_limits)
        if isinstance(own, Mapping):
            own = (int(own["min"]), int(own["max"]))
        window = t.get("intake_window")
        tracks[track] = TrackSchedule(
            track=track,
            phases=tuple(_phase(p) for p in t["phases"]),
            end=_offset(t["end"]),
            limits=own,
            window=IntakeWindow(**{k: int(v) for k, v in window.items()}) if window else None,
        )
    th = data["thinning"]
    if th["method"] != "drop-spread":
        raise ValueError(f"thinning method {th['method']!r}: only drop-spread is known")
    thinning = Thinning(th["method"], tuple(th["phases"]), float(th["max_drop_share"]))
    named = {rule.name for ts in tracks.values() for rule in ts.phases}
    if not set(thinning.phases) <= named:
        raise ValueError(f"thinning phases {sorted(set(thinning.phases) - named)} are in no track")
    if not 0 <= thinning.max_drop_share <= 0.5:
        raise ValueError(
            "thinning.max_drop_share must be within [0, 0.5]: neighbours are never both left out"
        )
    return Schedule(
        full_term_days=full_term_days,
        tracks=tracks,
        counted_kinds=frozenset(VisitKind(k) for k in data["counted_kinds"]),
        thinning=thinning,
        retime_min_gap_days=int(data["retime"]["min_gap_days"]),
        max_missed_share=float(data["on_track"]["max_missed_share"]),
        unrecorded_grace_days=int(data["on_track"]["unrecorded_grace_days"]),
        evaluation_purpose=str(data["evaluation_purpose"]),
        notes=dict(data.get("notes", {})),
    )


def _offset(d: Mapping[str, Any]) -> Offset:
    unknown = set(d) - {"anchor", "days", "months"}
    if unknown:
        raise ValueError(f"date bound {dict(d)}: unknown keys {sorted(unknown)}")
    return Offset(Anchor(d["anchor"]), int(d.get("days", 0)), int(d.get("months", 0)))


def _offsets(d: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> tuple[Offset, ...]:
    return (_offset(d),) if isinstance(d, Mapping) else tuple(_offset(x) for x in d)


def _phase(d: Mapping[str, Any]) -> PhaseRule:
    every = Interval(int(d["every"].get("days", 0)), int(d["every"].get("months", 0)))
    if every.days <= 0 and every.months <= 0:
        raise ValueError(f"phase {d['name']}: `every` must move forward")
    return PhaseRule(
        name=str(d["name"]),
        starts=_offsets(d["from"]),
        ends=_offsets(d["until"]),
        every=every,
        purpose=str(d["purpose"]),
        first_purpose=d.get("first_purpose"),
        first_kind=VisitKind(d.get("first_kind", VisitKind.HOME_VISIT.value)),
        modules=tuple(d.get("modules", ())),
    )


# --- the plan ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedVisit:
    sequence: int  # 1.. in date order; stable for recorded visits across re-timing
    phase: str
    planned_date: date
    purpose: str
    kind: VisitKind = VisitKind.HOME_VISIT
    status: VisitStatus = VisitStatus.PLANNED
    modules: tuple[str, ...] = ()


@dataclass(frozen=True)
class Adjustment:
    """Why the plan differs from the bare rhythm: a code to act on and a note a nurse reads."""

    kind: AdjustmentKind
    note: str
    phase: str | None = None
    dropped: int = 0


@dataclass(frozen=True)
class VisitPlan:
    track: Track
    intake_date: date
    expected_birth: date | None
    actual_birth: date | None
    end_date: date  # the child's 2nd birthday (VoorZorg Verder: the end of the continuation)
    visits: tuple[PlannedVisit, ...]
    adjustments: tuple[Adjustment, ...] = ()
    counted_kinds: frozenset[VisitKind] = frozenset({VisitKind.HOME_VISIT, VisitKind.PRIORITY_OVERVIEW})

    @property
    def birth(self) -> date:
        b = self.actual_birth or self.expected_birth
        assert b is not None  # plan() refuses a plan without either
        return b

    @property
    def visit_count(self) -> int:
        """Visits that count toward 40–60 (evaluation moments do not)."""
        return sum(1 for v in self.visits if v.kind in self.counted_kinds)

    @property
    def flags(self) -> tuple[AdjustmentKind, ...]:
        return tuple(a.kind for a in self.adjustments)

    def visit(self, sequence: int) -> PlannedVisit:
        for v in self.visits:
            if v.sequence == sequence:
                return v
        raise KeyError(sequence)


def plan(
    track: Track,
    intake_date: date,
    expected_birth: date | None = None,
    actual_birth: date | None = None,
    *,
    schedule: Schedule,
    evaluation_moments: Iterable[date] = (),
) -> VisitPlan:
    """The visit plan of a client starting `track` on `intake_date`.

    Without `actual_birth` she is pregnant at intake and the plan runs on the EDD; with it (born before
    or on the intake day: Late Start up to 6 weeks after birth) the plan runs on the actual birth.
    Evaluation moments agreed in a forced-framework case become visits of kind `evaluation`.
    """
    ts = schedule.track(track)
    if expected_birth is None and actual_birth is None:
        raise ValueError("a visit plan needs the expected date of delivery or the actual birth date")
    birth = actual_birth or expected_birth
    assert birth is not None
    end = ts.end.resolve(intake_date, birth)
    if intake_date > end:
        raise ValueError(f"intake {intake_date} is after the plan's end {end}")
    evaluations = sorted(set(evaluation_moments))
    outside = [d for d in evaluations if not intake_date <= d <= end]
    if outside:
        raise ValueError(f"evaluation moments {outside} are outside the plan period {intake_date}..{end}")
    notes = _window_note(ts, schedule, intake_date, expected_birth, actual_birth)
    visits, more = _build(ts, schedule, intake_date, birth, end, (), None, evaluations)
    return VisitPlan(
        track=track,
        intake_date=intake_date,
        expected_birth=expected_birth,
        actual_birth=actual_birth,
        end_date=end,
        visits=visits,
        adjustments=(*notes, *more),
        counted_kinds=schedule.counted_kinds,
    )


def retime(
    visit_plan: VisitPlan,
    actual_birth: date,
    done_sequences: Collection[int],
    *,
    schedule: Schedule,
    missed_sequences: Collection[int] = (),
) -> VisitPlan:
    """Move the plan with the actual birth: what was recorded stays, what is still to come moves.

    Every visit up to the last recorded one (done or missed) keeps its sequence, date and status, so a
    done visit is never lost and the plan never shrinks below what was done. The visits after it are
    planned again from the actual birth (evaluation moments keep their agreed dates), thinned to the
    maximum if needed, flagged if still outside 40–60.
    """
    if visit_plan.actual_birth is None and actual_birth < visit_plan.intake_date:
        raise ValueError(
            f"actual birth {actual_birth} is before the intake {visit_plan.intake_date}, "
            "where she was pregnant: correct the intake or plan anew with the birth"
        )
    ts = schedule.track(visit_plan.track)
    end = ts.end.resolve(visit_plan.intake_date, actual_birth)
    kept, visits, more = _keep_and_replan(
        visit_plan, ts, schedule, actual_birth, end, done_sequences, missed_sequences, ()
    )
    split = kept[-1].planned_date if kept else None
    shift = (actual_birth - visit_plan.birth).days
    retimed = Adjustment(
        AdjustmentKind.RETIMED,
        schedule.note(
            "retimed",
            actual_birth=actual_birth.isoformat(),
            previous_birth=visit_plan.birth.isoformat(),
            shift=(
                f"{-shift} days early" if shift < 0 else f"{shift} days late" if shift > 0 else "the same day"
            ),
            kept=len(kept),
            split=split.isoformat() if split else "the intake",
            replanned=len(visits) - len(kept),
        ),
    )
    carried = tuple(a for a in visit_plan.adjustments if a.kind is AdjustmentKind.OUTSIDE_WINDOW)
    return replace(
        visit_plan,
        actual_birth=actual_birth,
        end_date=end,
        visits=visits,
        adjustments=(*carried, retimed, *more),
    )


def revise(
    visit_plan: VisitPlan,
    track: Track,
    done_sequences: Collection[int],
    *,
    schedule: Schedule,
    missed_sequences: Collection[int] = (),
    evaluation_moments: Iterable[date] = (),
) -> VisitPlan:
    """The plan after a new decision (e.g. consult advice): the same plan, revised, never a second one.

    As in re-timing, what was recorded stays; the rest is planned again in the rhythm of `track`, and
    the agreed evaluation moments (forced framework) are added as activities of their own, next to the
    ones already planned.
    """
    ts = schedule.track(track)
    end = ts.end.resolve(visit_plan.intake_date, visit_plan.birth)
    evaluations = sorted(set(evaluation_moments))
    outside = [d for d in evaluations if not visit_plan.intake_date <= d <= end]
    if outside:
        raise ValueError(
            f"evaluation moments {outside} are outside the plan period {visit_plan.intake_date}..{end}"
        )
    kept, visits, more = _keep_and_replan(
        visit_plan,
        ts,
        schedule,
        visit_plan.birth,
        end,
        done_sequences,
        missed_sequences,
        evaluations,
    )
    note = Adjustment(
        AdjustmentKind.REVISED,
        schedule.note(
            "revised",
            previous=visit_plan.track.value,
            track=track.value,
            kept=len(kept),
            replanned=len(visits) - len(kept),
            evaluations=len(evaluations),
        ),
    )
    carried = tuple(
        a for a in visit_plan.adjustments if a.kind in (AdjustmentKind.OUTSIDE_WINDOW, AdjustmentKind.RETIMED)
    )
    return replace(visit_plan, track=track, end_date=end, visits=visits, adjustments=(*carried, note, *more))


def _keep_and_replan(
    visit_plan: VisitPlan,
    ts: TrackSchedule,
    schedule: Schedule,
    birth: date,
    end: date,
    done_sequences: Collection[int],
    missed_sequences: Collection[int],
    new_evaluations: Sequence[date],
) -> tuple[tuple[PlannedVisit, ...], tuple[PlannedVisit, ...], list[Adjustment]]:
    """Keep every visit up to the last recorded one as it is; plan the rest anew in `ts`'s rhythm.

    Evaluation moments still ahead keep their agreed dates. Returns (kept, all visits, notes).
    """
    done, missed = _check_records(visit_plan, done_sequences, missed_sequences)
    recorded = [
        v for v in visit_plan.visits if v.sequence in done | missed or v.status != VisitStatus.PLANNED
    ]
    split = max((v.planned_date for v in recorded), default=None)
    kept = tuple(
        replace(v, status=_status(v, done, missed))
        for v in visit_plan.visits
        if split is not None and v.planned_date <= split
    )
    evaluations = [
        v.planned_date
        for v in visit_plan.visits
        if v.kind is VisitKind.EVALUATION and (split is None or v.planned_date > split)
    ]
    already = [d for d in new_evaluations if split is not None and d <= split]
    if already:
        raise ValueError(f"evaluation moments {already} are not after the last recorded visit ({split})")
    evaluations = sorted({*evaluations, *new_evaluations})
    visits, more = _build(ts, schedule, visit_plan.intake_date, birth, end, kept, split, evaluations)
    return kept, visits, more


def continuation(visit_plan: VisitPlan, *, schedule: Schedule) -> VisitPlan:
    """The VoorZorg Verder plan after `visit_plan` ends at the child's 2nd birthday.

    VoorZorg Verder is not bound by 40–60 visits: its number and rhythm are the schedule's first choice.
    """
    return plan(
        Track.VOORZORG_VERDER,
        visit_plan.end_date,
        visit_plan.expected_birth,
        visit_plan.actual_birth,
        schedule=schedule,
    )


# --- progress ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PhaseProgress:
    phase: str
    planned: int  # every visit of the phase, whatever its state
    done: int
    missed: int
    unrecorded: int  # due (date on or before the day) without a record yet
    upcoming: int  # after the day, without a record


@dataclass(frozen=True)
class Progress:
    on_date: date
    phases: tuple[PhaseProgress, ...]
    due: int  # done + missed + unrecorded
    late: int  # missed + unrecorded longer than the grace period
    on_track: bool

    @property
    def done(self) -> int:
        return sum(p.done for p in self.phases)

    @property
    def missed(self) -> int:
        return sum(p.missed for p in self.phases)

    @property
    def planned(self) -> int:
        return sum(p.planned for p in self.phases)

    @property
    def upcoming(self) -> int:
        return sum(p.upcoming for p in self.phases)

    def phase(self, name: str) -> PhaseProgress:
        for p in self.phases:
            if p.phase == name:
                return p
        raise KeyError(name)


def progress(
    visit_plan: VisitPlan,
    on_date: date,
    done: Collection[int] = (),
    missed: Collection[int] = (),
    *,
    schedule: Schedule,
) -> Progress:
    """Done / planned / missed / upcoming per phase on `on_date`, and whether the plan is on track.

    Records come from the arguments and from visits already marked in the plan (after `retime`). On
    track: missed visits plus due visits still unrecorded after the grace period are at most the
    schedule's share of the due visits.
    """
    done_s, missed_s = _check_records(visit_plan, done, missed)
    grace = timedelta(days=schedule.unrecorded_grace_days)
    counts: dict[str, dict[str, int]] = {}
    late = 0
    for v in visit_plan.visits:
        c = counts.setdefault(
            v.phase, dict.fromkeys(("planned", "done", "missed", "unrecorded", "upcoming"), 0)
        )
        c["planned"] += 1
        status = _status(v, done_s, missed_s)
        if status is VisitStatus.DONE:
            c["done"] += 1
        elif status is VisitStatus.MISSED:
            c["missed"] += 1
            late += 1
        elif v.planned_date <= on_date:
            c["unrecorded"] += 1
            late += v.planned_date + grace < on_date
        else:
            c["upcoming"] += 1
    phases = tuple(PhaseProgress(phase=name, **c) for name, c in counts.items())
    due = sum(p.done + p.missed + p.unrecorded for p in phases)
    return Progress(
        on_date=on_date,
        phases=phases,
        due=due,
        late=late,
        on_track=late <= schedule.max_missed_share * due,
    )


# --- building ------------------------------------------------------------------------------------


def add_months(d: date, months: int) -> date:
    """Calendar months; the day is clamped to the month's end (31 Jan + 1 month = 28/29 Feb)."""
    if months == 0:
        return d
    y, m = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, m + 1
    return date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


def _build(
    ts: TrackSchedule,
    schedule: Schedule,
    intake: date,
    birth: date,
    end: date,
    kept: tuple[PlannedVisit, ...],
    split: date | None,
    evaluations: Iterable[date],
) -> tuple[tuple[PlannedVisit, ...], list[Adjustment]]:
    """Kept visits, then the rhythm's visits after them (thinned), evaluation moments merged in."""
    future = _rhythm(ts, intake, birth, end)
    if split is not None:
        first = split + timedelta(days=schedule.retime_min_gap_days)
        future = [v for v in future if v.planned_date >= first]
    fixed = sum(1 for v in kept if v.kind in schedule.counted_kinds)
    future, notes = _fit(ts, schedule, fixed, future)
    everything = sorted([*kept, *future], key=lambda v: (v.planned_date, _KIND_ORDER[v.kind]))
    evaluation_visits = [
        PlannedVisit(0, _phase_at(d, everything), d, schedule.evaluation_purpose, VisitKind.EVALUATION)
        for d in evaluations
    ]
    merged = sorted([*future, *evaluation_visits], key=lambda v: (v.planned_date, _KIND_ORDER[v.kind]))
    numbered = tuple(replace(v, sequence=len(kept) + i) for i, v in enumerate(merged, start=1))
    return (*kept, *numbered), notes


def _rhythm(ts: TrackSchedule, intake: date, birth: date, end: date) -> list[PlannedVisit]:
    out: list[PlannedVisit] = []
    for rule in ts.phases:
        start = max(o.resolve(intake, birth) for o in rule.starts)
        until = min(*(o.resolve(intake, birth) for o in rule.ends), end)
        n = 0
        while (d := rule.every.nth(start, n)) <= until:
            if d >= intake:
                first = n == 0
                out.append(
                    PlannedVisit(
                        sequence=0,
                        phase=rule.name,
                        planned_date=d,
                        purpose=(rule.first_purpose or rule.purpose) if first else rule.purpose,
                        kind=rule.first_kind if first else VisitKind.HOME_VISIT,
                        modules=rule.modules,
                    )
                )
            n += 1
    out.sort(key=lambda v: v.planned_date)
    return out


def _fit(
    ts: TrackSchedule, schedule: Schedule, fixed: int, future: list[PlannedVisit]
) -> tuple[list[PlannedVisit], list[Adjustment]]:
    """Bring fixed + future within the track's limits by thinning future visits; flag what remains."""
    if ts.limits is None:
        return future, []
    lo, hi = ts.limits
    notes: list[Adjustment] = []
    counted = schedule.counted_kinds

    def total() -> int:
        return fixed + sum(1 for v in future if v.kind in counted)

    for phase in schedule.thinning.phases:
        excess = total() - hi  # none left (0 or less): k is 0 below, and nothing more is dropped
        members = [v for v in future if v.phase == phase and v.kind is VisitKind.HOME_VISIT]
        n = len(members)
        k = min(excess, math.floor(n * schedule.thinning.max_drop_share))
        if k <= 0:
            continue
        drop = {id(members[math.floor((j + 0.5) * n / k)]) for j in range(k)}
        before = total()
        kept = [v for v in members if id(v) not in drop]
        future = [v for v in future if id(v) not in drop]
        notes.append(
            Adjustment(
                AdjustmentKind.THINNED,
                schedule.note(
                    "thinned",
                    phase=phase,
                    dropped=k,
                    count=n,
                    interval=_widest(members, min),
                    widest=_widest(kept, max),
                    max=hi,
                    before=before,
                    after=total(),
                ),
                phase=phase,
                dropped=k,
            )
        )
    count = total()
    if count > hi:
        notes.append(Adjustment(AdjustmentKind.OVER_MAX, schedule.note("over-max", count=count, max=hi)))
    elif count < lo:
        notes.append(Adjustment(AdjustmentKind.UNDER_MIN, schedule.note("under-min", count=count, min=lo)))
    return future, notes


def _widest(visits: Sequence[PlannedVisit], pick: Callable[[list[int]], int]) -> int:
    gaps = [(b.planned_date - a.planned_date).days for a, b in itertools.pairwise(visits)]
    return pick(gaps) if gaps else 0


def _phase_at(d: date, visits: Sequence[PlannedVisit]) -> str:
    """The phase an evaluation moment falls in: that of the last visit on or before it."""
    phase = visits[0].phase if visits else "evaluation"
    for v in visits:
        if v.planned_date > d:
            break
        phase = v.phase
    return phase


def _window_note(
    ts: TrackSchedule, schedule: Schedule, intake: date, expected: date | None, actual: date | None
) -> list[Adjustment]:
    w = ts.window
    if w is None:
        return []
    if actual is not None and actual <= intake:
        age = (intake - actual).days
        ok = w.max_child_age_days is not None and age <= w.max_child_age_days
        timing = f"with the child {age} days old"
    else:
        edd = expected or actual
        assert edd is not None
        ga = gestational_age_on(intake, edd, schedule.full_term_days)
        ok = (w.min_ga_days is None or ga >= w.min_ga_days) and (w.max_ga_days is None or ga <= w.max_ga_days)
        timing = f"at {ga // 7}+{ga % 7} weeks pregnant"
    if ok:
        return []
    parts = []
    if w.min_ga_days is not None:
        parts.append(f"from {w.min_ga_days // 7}+{w.min_ga_days % 7} weeks pregnant")
    if w.max_ga_days is not None:
        parts.append(f"until {w.max_ga_days // 7}+{w.max_ga_days % 7} weeks pregnant")
    parts.append(
        f"until the child is {w.max_child_age_days} days old"
        if w.max_child_age_days is not None
        else "not after birth"
    )
    note = schedule.note("outside-window", timing=timing, track=ts.track.value, window=", ".join(parts))
    return [Adjustment(AdjustmentKind.OUTSIDE_WINDOW, note)]


def _check_records(
    visit_plan: VisitPlan, done: Collection[int], missed: Collection[int]
) -> tuple[frozenset[int], frozenset[int]]:
    done_s, missed_s = frozenset(done), frozenset(missed)
    known = {v.sequence for v in visit_plan.visits}
    unknown = (done_s | missed_s) - known
    if unknown:
        raise ValueError(f"visits {sorted(unknown)} are not in the plan")
    both = done_s & missed_s
    if both:
        raise ValueError(f"visits {sorted(both)} are recorded both as done and as missed")
    return done_s, missed_s


def _status(v: PlannedVisit, done: frozenset[int], missed: frozenset[int]) -> VisitStatus:
    if v.sequence in done:
        return VisitStatus.DONE
    if v.sequence in missed:
        return VisitStatus.MISSED
    return v.status


def _names(tracks: Mapping[Track, TrackSchedule]) -> str:
    return ", ".join(t.value for t in tracks)
