"""What the adapter writes itself carries its profile in meta.profile and validates against it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from adapter.fhir.validator import has_errors, validate
from tests.conftest import FHIR_JSON_HEADERS


def _without_task(referral: dict[str, Any]) -> dict[str, Any]:
    referral["entry"] = [e for e in referral["entry"] if e["resource"]["resourceType"] != "Task"]
    sr = next(e["resource"] for e in referral["entry"] if e["resource"]["resourceType"] == "ServiceRequest")
    sr["supportingInfo"] = [i for i in sr["supportingInfo"] if not i["reference"].endswith("0009")]
    return referral


@pytest.mark.parametrize("consent", ["active", "rejected"])
def test_task_decision_and_care_plan_validate_against_their_profiles(
    client: TestClient, referral: dict[str, Any], consent: str
) -> None:
    referral = _without_task(referral)
    next(e["resource"] for e in referral["entry"] if e["resource"]["resourceType"] == "Consent")["status"] = (
        consent
    )
    r = client.post("/", content=json.dumps(referral), headers=FHIR_JSON_HEADERS)
    assert r.status_code == 200, r.text
    emitted = [
        e["resource"]
        for e in r.json()["entry"]
        if e["resource"]["resourceType"] in ("Task", "GuidanceResponse", "CarePlan")
    ]
    assert {res["resourceType"] for res in emitted} >= {"Task", "GuidanceResponse"}
    for res in emitted:
        assert res["meta"].get("profile"), res["resourceType"]
        issues = validate(res)
        assert not has_errors(issues), [(i.expression, i.diagnostics) for i in issues]


def test_an_update_that_breaks_the_tasks_profile_is_422_and_changes_nothing(
    client: TestClient, referral: dict[str, Any]
) -> None:
    referral = _without_task(referral)
    out = client.post("/", content=json.dumps(referral), headers=FHIR_JSON_HEADERS).json()
    task = next(e["resource"] for e in out["entry"] if e["resource"]["resourceType"] == "Task")
    broken = {**task, "status": "on-hold"}  # on hold without saying why breaks vz-task-1
    broken.pop("statusReason", None)
    r = client.put(
        f"/Task/{task['id']}", content=json.dumps(broken), headers={**FHIR_JSON_HEADERS, "If-Match": 'W/"1"'}
    )
    assert r.status_code == 422, r.text
    assert client.get(f"/Task/{task['id']}").json()["status"] == "accepted"
    fine = {**broken, "statusReason": {"text": "waiting for the client's answer"}}
    r = client.put(
        f"/Task/{task['id']}", content=json.dumps(fine), headers={**FHIR_JSON_HEADERS, "If-Match": 'W/"1"'}
    )
    assert r.status_code == 200, r.text
