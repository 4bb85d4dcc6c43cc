"""Theme Observation and Goal -> the domain's Assessment and GoalState (for Patient/$themes).

Only what counts is mapped: an assessment that was withdrawn (entered-in-error, cancelled) or is not
final yet (registered, preliminary) is no assessment; a goal entered in error is no goal.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from adapter.data import SCALE_CODESYSTEM, THEME_CODESYSTEM, own_system
from adapter.domain.themes import Assessment, GoalState
from adapter.fhir.dates import date_range

THEME_SYSTEM = own_system(THEME_CODESYSTEM)
SCALE_SYSTEM = own_system(SCALE_CODESYSTEM)
GOAL_ACHIEVEMENT_SYSTEM = "http://terminology.hl7.org/CodeSystem/goal-achievement"
#: Observation.status values of an assessment that counts (final, or corrected after being final).
COUNTED_STATUSES = frozenset({"final", "amended", "corrected"})
#: Goal.lifecycleStatus values of a goal that was never a goal.
VOID_GOAL_STATUSES = frozenset({"entered-in-error"})


def code_in(concept: Any, system: str) -> str | None:
    """The first code of `system` in a CodeableConcept (None when it has none)."""
    if not isinstance(concept, dict):
        return None
    for c in concept.get("coding", []):
        if isinstance(c, dict) and c.get("system") == system and isinstance(c.get("code"), str):
            return str(c["code"])
    return None


def is_theme_assessment(observation: dict[str, Any]) -> bool:
    """An Observation whose code is one of the themes' system (valid code or not: the profile says)."""
    coding = (
        observation.get("code", {}).get("coding", []) if isinstance(observation.get("code"), dict) else []
    )
    return any(isinstance(c, dict) and c.get("system") == THEME_SYSTEM for c in coding)


def goal_theme(goal: dict[str, Any]) -> str | None:
    for category in goal.get("category", []):
        code = code_in(category, THEME_SYSTEM)
        if code is not None:
            return code
    return None


def _instant(value: str) -> datetime:
    return datetime.strptime(date_range(value)[0], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def assessment_of(ref: str, observation: dict[str, Any], recorded: str = "") -> Assessment | None:
    """The assessment a stored theme Observation holds, or None when it does not count."""
    if observation.get("status") not in COUNTED_STATUSES:
        return None
    theme = code_in(observation.get("code"), THEME_SYSTEM)
    level = code_in(observation.get("valueCodeableConcept"), SCALE_SYSTEM)
    subject = observation.get("subject", {}).get("reference")
    effective = observation.get("effectiveDateTime")
    if theme is None or level is None or not isinstance(subject, str) or not isinstance(effective, str):
        return None
    try:
        when = _instant(effective)
    except ValueError:
        return None
    return Assessment(ref=ref, theme=theme, subject=subject, level=level, when=when, recorded=recorded)


def goal_of(ref: str, goal: dict[str, Any]) -> GoalState | None:
    """The goal a stored theme Goal holds, or None when it was entered in error."""
    theme = goal_theme(goal)
    subject = goal.get("subject", {}).get("reference")
    if theme is None or not isinstance(subject, str) or goal.get("lifecycleStatus") in VOID_GOAL_STATUSES:
        return None
    targets = [t for t in goal.get("target", []) if isinstance(t, dict)]
    level = next(
        (code for t in targets if (code := code_in(t.get("detailCodeableConcept"), SCALE_SYSTEM))), None
    )
    due = next((t["dueDate"] for t in targets if isinstance(t.get("dueDate"), str)), None)
    return GoalState(
        ref=ref,
        theme=theme,
        subject=subject,
        description=str(goal.get("description", {}).get("text", "")),
        lifecycle=str(goal.get("lifecycleStatus", "")),
        achievement=code_in(goal.get("achievementStatus"), GOAL_ACHIEVEMENT_SYSTEM),
        target_level=level,
        due=date.fromisoformat(due[:10]) if due else None,
    )
