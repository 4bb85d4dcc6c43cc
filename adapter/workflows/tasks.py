"""Updating a Task (`PUT /Task/{id}`): the rules it is held to, per kind of Task
(mappings/task-transitions.yaml), and what follows from it.

The referral Task follows the closed loop of the referral; a VoorZorg Consult Task has a life cycle of
its own (requested -> accepted -> completed with the advice, or rejected, or cancelled), in which the
consult team may only accept, reject and complete, only the answer may change, and nothing changes
once it is final. Every refusal says why; nothing is stored. A consult Task that ends without an advice
takes its request along (`adapter.workflows.consult.after_task_update`), in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from adapter.data import TaskKind, task_fixed, task_kind, task_kinds, task_transitions
from adapter.fhir.outcome import FhirError, Issue, version_conflict
from adapter.security.access import Viewer
from adapter.store.engine import Store
from adapter.store.session import Session, Stored, VersionConflict
from adapter.workflows.consult import after_task_update


@dataclass(frozen=True)
class TaskUpdated:
    task: Stored
    #: What the update read and changed besides the Task (its version before, a revoked consult request)
    touched: list[Stored]


def update_task(
    store: Store, viewer: Viewer, task_id: str, body: dict[str, Any], if_match: int | None
) -> TaskUpdated:
    """The caller's update of a Task it may see: held to its kind's rules, with `If-Match` when given."""

    def work(s: Session) -> TaskUpdated:
        current = viewer.visible(s, s.get("Task", task_id))
        if current is None:
            raise FhirError.one(404, f"Task/{task_id} is not known", code="not-found")
        if current.deleted:
            raise FhirError.one(410, f"Task/{task_id} was deleted", code="deleted")
        check_task_update(current.content, body, viewer.principal.role)
        try:
            stored = s.put(body, if_match=if_match).stored
        except VersionConflict as e:
            if if_match is None:
                raise
            raise version_conflict("Task", if_match, e.current) from None
        # a consult that ended without an advice revokes its request
        return TaskUpdated(stored, [current, *(w.stored for w in after_task_update(s, stored))])

    return store.write(work)


def check_task_update(current: dict[str, Any], proposed: dict[str, Any], role: str) -> None:
    """Refuse an update the Task's kind does not allow: 409 (transition, final), 403 (not this role's
    move, or a role that updates nothing of this kind), 422 (an element that may not change)."""
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
    _check_mover(kind, rules, role, old, new)
    _check_elements(kind, rules, role, current, proposed)


def _check_mover(kind: str, rules: TaskKind, role: str, old: object, new: object) -> None:
    """403 unless `role` may update a Task of this kind and, when it moves it, to `new`."""
    moves = rules.get("moved_by", {})
    if role not in moves:
        raise FhirError.one(
            403, f"The role {role!r} does not update a {kind} Task", "Task.status", code="forbidden"
        )
    if old != new and new not in moves[role]:
        raise FhirError.one(
            403,
            f"The role {role!r} may not move a {kind} Task to {new!r} "
            f"(only to: {', '.join(moves[role]) or 'none'})",
            "Task.status",
            code="forbidden",
        )


def _check_elements(
    kind: str, rules: TaskKind, role: str, current: dict[str, Any], proposed: dict[str, Any]
) -> None:
    """422 naming each element the update changes that is fixed, or not this role's (or anyone's) to
    change."""
    changeable = rules.get("changes_by", {}).get(role, rules.get("changeable"))
    elements = sorted((set(current) | set(proposed)) - {"meta", "resourceType", "id"})
    changed = [k for k in elements if current.get(k) != proposed.get(k)]
    if current.get("meta", {}).get("profile") != proposed.get("meta", {}).get("profile"):
        changed.insert(0, "meta.profile")
    issues = [
        Issue(f"Task.{k} never changes once the Task is made", (f"Task.{k}",), "business-rule")
        for k in changed
        if k in task_fixed()
    ]
    if changeable is not None:
        may = ", ".join(changeable)
        issues += [
            Issue(
                f"Task.{k} of a {kind} Task cannot change by the role {role!r}; it may change only {may}",
                (f"Task.{k}",),
                "business-rule",
            )
            for k in changed
            if k not in changeable and k not in task_fixed()
        ]
    if issues:
        raise FhirError(422, issues)


def _without_meta(task: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in task.items() if k != "meta"}
