"""The themes at a glance -> the Parameters answer of Patient/$themes.

One `theme` parameter per theme and subject (the client's nine first, then her child's assessed ones),
each with the latest assessment, the first one (the baseline, normally at intake), the trend between
them, and the goals of that theme with whether the latest assessment reached what they aim at; then a
`summary` a nurse or the JGZ dossier can read at once. Codes carry their Dutch display (the CodeSystems).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from adapter.config import CANONICAL_BASE
from adapter.data import SCALE_CODESYSTEM, THEME_CODESYSTEM
from adapter.domain.themes import Assessment, GoalProgress, ThemeStatus, Trend
from adapter.mapping.decision_out import coding
from adapter.mapping.themes_in import GOAL_ACHIEVEMENT_SYSTEM

TREND_CODESYSTEM = "voorzorg-theme-trend"
THEMES_OPERATION = f"{CANONICAL_BASE}/OperationDefinition/patient-themes"


def _part(name: str, **value: Any) -> dict[str, Any]:
    return {"name": name, **value}


def _assessment(prefix: str, a: Assessment) -> list[dict[str, Any]]:
    return [
        _part(prefix, valueCoding=coding(SCALE_CODESYSTEM, a.level)),
        _part(f"{prefix}Date", valueDateTime=a.when.isoformat().replace("+00:00", "Z")),
        _part(f"{prefix}Assessment", valueReference={"reference": a.ref}),
    ]


def _goal(p: GoalProgress) -> dict[str, Any]:
    g = p.goal
    parts = [
        _part("reference", valueReference={"reference": g.ref}),
        _part("lifecycleStatus", valueCode=g.lifecycle),
    ]
    if g.description:
        parts.append(_part("description", valueString=g.description))
    if g.achievement:
        parts.append(
            _part(
                "achievementStatus",
                valueCoding={"system": GOAL_ACHIEVEMENT_SYSTEM, "code": g.achievement},
            )
        )
    if g.target_level:
        parts.append(_part("target", valueCoding=coding(SCALE_CODESYSTEM, g.target_level)))
    if g.due:
        parts.append(_part("due", valueDate=g.due.isoformat()))
    if p.target_met is not None:
        parts.append(_part("targetMet", valueBoolean=p.target_met))
    return _part("goal", part=parts)


def _theme(t: ThemeStatus) -> dict[str, Any]:
    theme = coding(THEME_CODESYSTEM, t.theme.code)
    parts: list[dict[str, Any]] = [
        _part("code", valueCoding=theme),
        _part("subject", valueReference={"reference": t.subject}),
        _part("assessments", valueInteger=t.count),
    ]
    if t.latest is not None:
        parts += _assessment("latest", t.latest)
    if t.baseline is not None and t.count > 1:
        parts += _assessment("baseline", t.baseline)
    if t.trend is not None:
        parts.append(_part("trend", valueCoding=coding(TREND_CODESYSTEM, t.trend.value)))
    if t.change is not None and t.count > 1:
        parts.append(_part("change", valueInteger=t.change))
    parts += [_goal(g) for g in t.goals]
    return _part("theme", part=parts)


def _summary(statuses: tuple[ThemeStatus, ...]) -> dict[str, Any]:
    trends = Counter(t.trend for t in statuses if t.trend is not None)
    goals = [g for t in statuses for g in t.goals]
    return _part(
        "summary",
        part=[
            _part("assessed", valueInteger=sum(1 for t in statuses if t.count)),
            _part("notAssessed", valueInteger=sum(1 for t in statuses if not t.count)),
            *(_part(kind.value, valueInteger=trends.get(kind, 0)) for kind in Trend),
            _part("goals", valueInteger=len(goals)),
            _part("goalsTargetMet", valueInteger=sum(1 for g in goals if g.target_met)),
        ],
    )


def themes_parameters(patient: str, statuses: tuple[ThemeStatus, ...]) -> dict[str, Any]:
    """The answer of Patient/{id}/$themes."""
    return {
        "resourceType": "Parameters",
        "parameter": [
            _part("patient", valueReference={"reference": patient}),
            _summary(statuses),
            *(_theme(t) for t in statuses),
        ],
    }
