"""Every write is held to the R4 base rules too, not only to our profiles (issue #18): a Period that ends
before it starts (per-1) is refused with 422 naming the element, and nothing is stored."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient

from tests.api.test_careplan import _intake, _visit
from tests.api.test_sharing import _consent
from tests.conftest import FHIR_JSON_HEADERS


def _refused_at(r: Any, expression: str, words: str) -> None:
    assert r.status_code == 422, r.text
    issues = r.json()["issue"]
    assert any(expression in i.get("expression", []) and words in i["diagnostics"] for i in issues), issues


def test_an_encounter_that_ends_before_it_starts_is_422_and_not_stored(
    client: TestClient, referral: dict[str, Any]
) -> None:
    plan = _intake(client, referral)["CarePlan"]
    visit = _visit(plan, 1)
    day = visit["period"]["start"][:10]
    visit["period"] = {"start": f"{day}T11:00:00+01:00", "end": f"{day}T10:00:00+01:00"}
    r = client.post("/Encounter", content=json.dumps(visit), headers=FHIR_JSON_HEADERS)
    _refused_at(r, "Encounter.period", "per-1")
    assert client.get("/Encounter").json()["total"] == 0
    visit["period"] = {"start": f"{day}T10:00:00+01:00", "end": f"{day}T11:00:00+01:00"}
    assert client.post("/Encounter", content=json.dumps(visit), headers=FHIR_JSON_HEADERS).status_code == 201


def test_a_consent_whose_provision_ends_before_it_starts_is_422_and_not_stored(
    client: TestClient, referral: dict[str, Any]
) -> None:
    patient = f"Patient/{_intake(client, referral)['Patient']['id']}"
    consent = _consent(patient)
    consent["provision"]["period"] = {"start": "2026-03-10", "end": "2026-03-01"}
    r = client.post("/Consent", content=json.dumps(consent), headers=FHIR_JSON_HEADERS)
    _refused_at(r, "Consent.provision.period", "per-1")
    assert client.get(f"/Consent?patient={patient}&scope=patient-privacy").json()["total"] == 0
    consent["provision"]["period"] = {"start": "2026-03-01", "end": "2026-03-10"}
    assert client.post("/Consent", content=json.dumps(consent), headers=FHIR_JSON_HEADERS).status_code == 201


def test_a_task_update_with_an_execution_period_backwards_is_422(
    client: TestClient, referral: dict[str, Any]
) -> None:
    task = _intake(client, referral)["Task"]
    changed = {**task, "executionPeriod": {"start": "2025-03-11", "end": "2025-03-10"}}
    r = client.put(
        f"/Task/{task['id']}",
        content=json.dumps(changed),
        headers={**FHIR_JSON_HEADERS, "If-Match": f'W/"{task["meta"]["versionId"]}"'},
    )
    _refused_at(r, "Task.executionPeriod", "per-1")
    assert client.get(f"/Task/{task['id']}").json()["meta"]["versionId"] == task["meta"]["versionId"]
