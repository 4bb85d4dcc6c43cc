"""PlanDefinition/$apply, VoorZorg Verder, and completion at the child's 2nd birthday."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from adapter.cli import main
from adapter.store.engine import Store
from adapter.workflows.plans import complete_due
from tests.api.test_careplan import _intake
from tests.conftest import FHIR_JSON_HEADERS

PD = "/PlanDefinition/voorzorg-plan-{}/$apply"


def _apply(client: TestClient, track: str, subject: str | None) -> Any:
    params: dict[str, Any] = {"resourceType": "Parameters", "parameter": []}
    if subject is not None:
        params["parameter"].append({"name": "subject", "valueString": subject})
    return client.post(PD.format(track), content=json.dumps(params), headers=FHIR_JSON_HEADERS)


def test_apply_answers_the_plan_intake_made_and_never_a_second_one(
    client: TestClient, referral: dict[str, Any]
) -> None:
    out = _intake(client, referral)
    plan, patient = out["CarePlan"], f"Patient/{out['Patient']['id']}"
    r = _apply(client, "voorzorg", patient)
    assert r.status_code == 200, r.text
    assert r.json()["id"] == plan["id"] and r.json()["meta"]["versionId"] == plan["meta"]["versionId"]
    assert r.json()["instantiatesCanonical"] == [
        "https://fhir.voorzorg.nl/PlanDefinition/voorzorg-plan-voorzorg"
    ]
    by_url = client.post(f"{PD.format('voorzorg')}?subject={patient}", headers=FHIR_JSON_HEADERS)
    assert by_url.status_code == 200 and by_url.json()["id"] == plan["id"]
    assert client.get(f"/CarePlan?patient={patient}").json()["total"] == 1


def test_apply_makes_the_plan_when_it_is_missing(
    client: TestClient, store: Store, referral: dict[str, Any]
) -> None:
    out = _intake(client, referral)
    store.write(lambda s: s.delete("CarePlan", out["CarePlan"]["id"]))
    r = _apply(client, "voorzorg", f"Patient/{out['Patient']['id']}")
    assert r.status_code == 201, r.text
    assert r.headers["Location"].endswith(
        f"/CarePlan/{out['CarePlan']['id']}/_history/{r.json()['meta']['versionId']}"
    )
    assert 40 <= len(r.json()["activity"]) <= 60


def test_apply_refuses_what_it_cannot_apply_with_an_outcome_naming_the_input(
    client: TestClient, referral: dict[str, Any]
) -> None:
    out = _intake(client, referral)
    patient = f"Patient/{out['Patient']['id']}"
    other_track = _apply(client, "voorzorg-2", patient)
    assert other_track.status_code == 422
    assert other_track.json()["issue"][0]["expression"] == ["Parameters.parameter[subject]"]
    assert "accepted, voorzorg" in other_track.json()["issue"][0]["diagnostics"]
    assert _apply(client, "nonsense", patient).status_code == 404
    assert _apply(client, "voorzorg", None).status_code == 400
    assert _apply(client, "voorzorg", "Patient/unknown").status_code == 422
    assert client.get(f"/CarePlan?patient={patient}").json()["total"] == 1


def test_voorzorg_verder_continues_the_plan_as_a_new_careplan_that_replaces_it(
    client: TestClient, referral: dict[str, Any]
) -> None:
    out = _intake(client, referral)
    plan, patient = out["CarePlan"], f"Patient/{out['Patient']['id']}"
    r = _apply(client, "voorzorg-verder", patient)
    assert r.status_code == 201, r.text
    verder = r.json()
    assert verder["id"] != plan["id"] and verder["status"] == "active"
    assert verder["replaces"] == [{"reference": f"CarePlan/{plan['id']}"}] == verder["basedOn"]
    assert verder["category"][0]["coding"][0]["code"] == "voorzorg-verder"
    assert verder["period"]["start"] == plan["period"]["end"]
    assert verder["activity"] and all(
        a["detail"]["scheduledPeriod"]["start"] > plan["period"]["end"] for a in verder["activity"]
    )
    again = _apply(client, "voorzorg-verder", patient)
    assert again.status_code == 200 and again.json()["id"] == verder["id"]
    assert client.get(f"/CarePlan?patient={patient}").json()["total"] == 2


def test_a_plan_completes_after_the_childs_second_birthday_with_its_referral_task(
    client: TestClient, store: Store, referral: dict[str, Any]
) -> None:
    out = _intake(client, referral)
    plan, task = out["CarePlan"], out["Task"]
    end = date.fromisoformat(plan["period"]["end"])
    assert complete_due(store, end) == []  # the last day still runs
    assert complete_due(store, end + timedelta(days=1)) == [f"CarePlan/{plan['id']}"]
    assert client.get(f"/CarePlan/{plan['id']}").json()["status"] == "completed"
    statuses = [e["resource"]["status"] for e in client.get(f"/Task/{task['id']}/_history").json()["entry"]]
    assert statuses[:3] == ["completed", "in-progress", "accepted"]  # newest first, through in-progress
    assert complete_due(store, date(2031, 1, 1)) == []  # once


def test_the_cli_completes_due_plans(
    client: TestClient,
    store: Store,
    referral: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    plan = _intake(client, referral)["CarePlan"]
    monkeypatch.setenv("VOORZORG_DATABASE_URL", store.url)
    assert main(["careplans", "complete-due", "--date", "2030-01-01"]) == 0
    assert "1 care plan(s) completed" in capsys.readouterr().out
    assert client.get(f"/CarePlan/{plan['id']}").json()["status"] == "completed"
