"""The nine VoorZorg themes at a glance (domain page §4): latest assessment, trend since intake, goals.

Pure: no FHIR, no I/O, no clock. The themes and the concern scale are data (the CodeSystems
voorzorg-theme and voorzorg-theme-assessment, read by `adapter.data`); the scale's order comes from
its `ordinalValue` property, so the trend never depends on the codes themselves. Lower is better.

A theme is followed per subject: the mother's health and her child's health are two series, each
with its own baseline (the first assessment, normally the one at intake) and trend.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum


class Trend(StrEnum):
    """How a theme developed since its first assessment (CodeSystem voorzorg-theme-trend)."""

    IMPROVED = "improved"
    UNCHANGED = "unchanged"
    WORSENED = "worsened"
    BASELINE_ONLY = "baseline-only"


@dataclass(frozen=True)
class Theme:
    code: str
    display: str  # Dutch
    english: str


@dataclass(frozen=True)
class Scale:
    """The concern scale: code -> position (0 = no concern; higher = more concern)."""

    levels: Mapping[str, int]

    def level(self, code: str) -> int | None:
        return self.levels.get(code)


@dataclass(frozen=True)
class Assessment:
    """One theme assessment: `level` is a code of the scale."""

    ref: str  # "Observation/id"
    theme: str
    subject: str  # "Patient/id": the mother, or her child
    level: str
    when: datetime  # effective, timezone-aware
    recorded: str = ""  # when stored (tie-break for two assessments at the same moment)


@dataclass(frozen=True)
class GoalState:
    """A goal within a theme, with what it aims at."""

    ref: str  # "Goal/id"
    theme: str
    subject: str
    description: str
    lifecycle: str  # Goal.lifecycleStatus
    achievement: str | None  # Goal.achievementStatus code
    target_level: str | None  # the scale code aimed at
    due: date | None


@dataclass(frozen=True)
class GoalProgress:
    goal: GoalState
    target_met: bool | None  # the latest assessment is at or below the level aimed at; None: cannot tell


@dataclass(frozen=True)
class ThemeStatus:
    theme: Theme
    subject: str
    latest: Assessment | None
    baseline: Assessment | None
    count: int
    trend: Trend | None  # None: not assessed
    change: int | None  # latest level minus baseline level (negative = less concern)
    goals: tuple[GoalProgress, ...]


def trend(scale: Scale, baseline: str, latest: str, count: int) -> Trend:
    """Compare the latest assessment with the first one on the scale's order (lower is better)."""
    if count < 2:
        return Trend.BASELINE_ONLY
    first, last = scale.level(baseline), scale.level(latest)
    if first is None or last is None:
        raise ValueError(f"{baseline!r} or {latest!r} is not on the scale")
    if last < first:
        return Trend.IMPROVED
    if last > first:
        return Trend.WORSENED
    return Trend.UNCHANGED


def target_met(scale: Scale, latest: Assessment | None, goal: GoalState) -> bool | None:
    """Whether the latest assessment reached the level the goal aims at (None: nothing to compare)."""
    if latest is None or goal.target_level is None:
        return None
    now, aim = scale.level(latest.level), scale.level(goal.target_level)
    if now is None or aim is None:
        return None
    return now <= aim


def _order(a: Assessment) -> tuple[datetime, str, str]:
    return (a.when, a.recorded, a.ref)


def overview(
    patient: str,
    themes: Sequence[Theme],
    scale: Scale,
    assessments: Iterable[Assessment],
    goals: Iterable[GoalState] = (),
) -> tuple[ThemeStatus, ...]:
    """Every theme of `patient` (all of them, assessed or not), then each other subject's (her
    children's) themes that have an assessment or a goal; in the CodeSystem's order per subject.

    Assessments of a code outside `themes` or a level outside `scale` are left out: the list is data,
    and a theme dropped from it is no longer shown.
    """
    by_theme = {t.code: t for t in themes}
    series: dict[tuple[str, str], list[Assessment]] = {}
    for a in assessments:
        if a.theme in by_theme and scale.level(a.level) is not None:
            series.setdefault((a.subject, a.theme), []).append(a)
    aims: dict[tuple[str, str], list[GoalState]] = {}
    for g in goals:
        if g.theme in by_theme:
            aims.setdefault((g.subject, g.theme), []).append(g)
    others = sorted({s for s, _ in [*series, *aims]} - {patient})
    out: list[ThemeStatus] = []
    for subject in [patient, *others]:
        for theme in themes:
            key = (subject, theme.code)
            found = sorted(series.get(key, []), key=_order)
            subject_goals = sorted(aims.get(key, []), key=lambda g: (g.due or date.max, g.ref))
            if subject != patient and not found and not subject_goals:
                continue
            out.append(_status(theme, subject, scale, found, subject_goals))
    return tuple(out)


def _status(
    theme: Theme, subject: str, scale: Scale, found: list[Assessment], goals: list[GoalState]
) -> ThemeStatus:
    latest = found[-1] if found else None
    baseline = found[0] if found else None
    change = None
    kind = None
    if latest is not None and baseline is not None:
        kind = trend(scale, baseline.level, latest.level, len(found))
        change = (scale.level(latest.level) or 0) - (scale.level(baseline.level) or 0)
    return ThemeStatus(
        theme=theme,
        subject=subject,
        latest=latest,
        baseline=baseline,
        count=len(found),
        trend=kind,
        change=change,
        goals=tuple(GoalProgress(g, target_met(scale, latest, g)) for g in goals),
    )
