"""A resend never moves the referral Task or its CarePlan backwards (issue #16, Found 7).

The obstetric system may send the same referral again at any time (a retry, a correction). Once the
nurse has started (Task ready / in-progress / completed) the Task stays where she moved it, and so does
the care plan: a started Task counts as accepted, and a finished plan is not reopened.
"""

from __future__ import annotations

import copy
import json
from datetime import date
from typing import Any

from fastapi.testclient import TestClient

from adapter.workflows.plans import complete_due
from tests.api.helpers import FF, one, post, set_bool
from tests.conftest import composed


def _intake(client: TestClient, bundle: dict[str, Any]) -> dict[str, Any]:
    r = post(client, bundle)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def _move(client: TestClient, task_id: str, *statuses: str) -> None:
    for status in statuses:
        task = client.get(f"/Task/{task_id}").json()
        task["status"] = status
        r = client.put(
            f"/Task/{task_id}",
            content=json.dumps(task),
            headers={"Content-Type": "application/fhir+json", "If-Match": f'W/"{task["meta"]["versionId"]}"'},
        )
        assert r.status_code == 200, r.text


def _plan(client: TestClient, plan_id: str) -> dict[str, Any]:
    r = client.get(f"/CarePlan/{plan_id}")
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def test_an_unchanged_resend_after_visits_started_keeps_the_plan_active(
    client: TestClient, referral: dict[str, Any]
) -> None:
    first = _intake(client, referral)
    task_id, plan = one(first, "Task")["id"], one(first, "CarePlan")
    assert plan["status"] == "active"
    _move(client, task_id, "in-progress")
    _intake(client, copy.deepcopy(referral))
    assert client.get(f"/Task/{task_id}").json()["status"] == "in-progress"
    after = _plan(client, plan["id"])
    assert after["status"] == "active"
    assert after["meta"]["versionId"] == plan["meta"]["versionId"]  # nothing changed: no new version


def test_a_resend_after_the_task_was_completed_keeps_both(
    client: TestClient, referral: dict[str, Any]
) -> None:
    first = _intake(client, referral)
    task_id, plan_id = one(first, "Task")["id"], one(first, "CarePlan")["id"]
    _move(client, task_id, "in-progress", "completed")
    _intake(client, copy.deepcopy(referral))
    assert client.get(f"/Task/{task_id}").json()["status"] == "completed"
    assert _plan(client, plan_id)["status"] == "active"


def test_a_resend_with_a_new_decision_does_not_pause_started_visits(
    client: TestClient, referral: dict[str, Any]
) -> None:
    """A decision that would hold the referral (forced framework: consult) does not take a started Task
    back to on-hold; the new decision is kept in the GuidanceResponse."""
    first = _intake(client, referral)
    task_id, plan_id = one(first, "Task")["id"], one(first, "CarePlan")["id"]
    _move(client, task_id, "in-progress")
    changed = copy.deepcopy(referral)
    set_bool(changed, FF, True)
    second = _intake(client, changed)
    assert one(second, "Task")["status"] == "in-progress"
    assert client.get(f"/Task/{task_id}").json()["status"] == "in-progress"
    assert _plan(client, plan_id)["status"] == "active"
    assert one(second, "GuidanceResponse")["meta"]["versionId"] == "2"  # the decision itself is kept


def test_a_resend_does_not_reopen_a_completed_plan(client: TestClient, referral: dict[str, Any]) -> None:
    first = _intake(client, referral)
    plan_id = one(first, "CarePlan")["id"]
    assert complete_due(composed(client), date(2031, 1, 1)) == [f"CarePlan/{plan_id}"]
    _intake(client, copy.deepcopy(referral))
    assert _plan(client, plan_id)["status"] == "completed"


def test_before_the_nurse_started_a_resend_still_follows_the_decision(
    client: TestClient, referral: dict[str, Any]
) -> None:
    """Unchanged: an accepted Task still goes on hold (and its plan with it) when the facts change."""
    first = _intake(client, referral)
    plan_id = one(first, "CarePlan")["id"]
    changed = copy.deepcopy(referral)
    set_bool(changed, FF, True)
    assert one(_intake(client, changed), "Task")["status"] == "on-hold"
    assert _plan(client, plan_id)["status"] == "on-hold"
    assert one(_intake(client, referral), "Task")["status"] == "accepted"
    assert _plan(client, plan_id)["status"] == "active"
