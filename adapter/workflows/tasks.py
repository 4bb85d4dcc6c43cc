"""The rules a Task update is held to, per kind of Task (mappings/task-transitions.yaml).

The referral Task follows the closed loop of the referral; a VoorZorg Consult Task has a life cycle of
its own (requested -> accepted -> completed with the advice, or rejected, or cancelled), in which the
consult team may only accept, reject and complete, only the answer may change, and nothing changes
once it is final. Every refusal says why; nothing is stored.
"""

from __future__ import annotations

from typing import Any

from adapter.data import task_kind, task_kinds, task_transitions
from adapter.fhir.outcome import FhirError, Issue


def check_task_update(current: dict[str, Any], proposed: dict[str, Any], role: str) -> None:
    """Refuse an update the Task's kind does not allow: 409 (transition, final), 403 (not this role's
    move), 422 (an element that may not change)."""
    kind = task_kind(current)
    rules = task_kinds()[kind]
    old, new = current.get("status"), proposed.get("status")
    if old in rules.get("final", []) and _without_meta(current) != _without_meta(proposed):
        raise FhirError.one(
            409,
            f"A {kind} Task that is {old} does not change any more",
            "Task.status",
            code="business-rule",
        )
    if old != new:
        allowed = task_transitions(kind).get(str(old), [])
        if new not in allowed:
            raise FhirError.one(
                409,
                f"A {kind} Task cannot move from {old!r} to {new!r}; allowed: {', '.join(allowed) or 'none'}",
                "Task.status",
                code="business-rule",
            )
        limited = rules.get("moved_by", {}).get(role)
        if limited is not None and new not in limited:
            raise FhirError.one(
                403,
                f"The role {role!r} may not move a {kind} Task to {new!r} (only to: {', '.join(limited)})",
                "Task.status",
                code="forbidden",
            )
    changeable = rules.get("changeable")
    if changeable is None:
        return
    fixed = sorted((set(current) | set(proposed)) - set(changeable) - {"meta", "resourceType", "id"})
    changed = [k for k in fixed if current.get(k) != proposed.get(k)]
    if current.get("meta", {}).get("profile") != proposed.get("meta", {}).get("profile"):
        changed.insert(0, "meta.profile")
    if changed:
        may = ", ".join(changeable)
        raise FhirError(
            422,
            [
                Issue(
                    f"Task.{k} of a {kind} Task cannot change; an update may change only {may}",
                    (f"Task.{k}",),
                    "business-rule",
                )
                for k in changed
            ],
        )


def _without_meta(task: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in task.items() if k != "meta"}
