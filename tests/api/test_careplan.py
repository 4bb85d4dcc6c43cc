"""The care plan of an accepted referral through the REST facade: read and search it, record visits
against it, and ask its progress."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient

from adapter.mapping.careplan_out import SEQUENCE_EXT, activity_sequence
from tests.conftest import FHIR_JSON_HEADERS

HOME_VISIT = "https://fhir.voorzorg.nl/CodeSystem/voorzorg-referral-item"


def _intake(client: TestClient, referral: dict[str, Any]) -> dict[str, Any]:
    r = client.post("/", content=json.dumps(referral), headers=FHIR_JSON_HEADERS)
    assert r.status_code == 200, r.text
    return {e["resource"]["resourceType"]: e["resource"] for e in r.json()["entry"]}


def _visit(
    plan: dict[str, Any], sequence: int | None, status: str = "finished", ident: str = "v-1"
) -> dict[str, Any]:
    activity = next(a for a in plan["activity"] if activity_sequence(a) == (sequence or 1))
    day = activity["detail"]["scheduledPeriod"]["start"]
    enc: dict[str, Any] = {
        "resourceType": "Encounter",
        "identifier": [{"system": "urn:example:nurse-visits", "value": ident}],
        "status": status,
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "HH"},
        "type": [{"coding": [{"system": HOME_VISIT, "code": "home-visit"}]}],
        "subject": plan["subject"],
        "basedOn": [plan["supportingInfo"][0]],
        "period": {"start": f"{day}T10:00:00+01:00", "end": f"{day}T11:00:00+01:00"},
    }
    if sequence is not None:
        enc["extension"] = [{"url": SEQUENCE_EXT, "valueInteger": sequence}]
    return enc


def test_an_accepted_referral_gets_a_plan_of_40_to_60_visits_readable_and_searchable(
    client: TestClient, referral: dict[str, Any]
) -> None:
    out = _intake(client, referral)
    plan, patient = out["CarePlan"], out["Patient"]
    assert 40 <= len(plan["activity"]) <= 60
    assert plan["status"] == "active" and plan["intent"] == "plan"
    assert plan["supportingInfo"][0] == {"reference": f"ServiceRequest/{out['ServiceRequest']['id']}"}
    dates = [a["detail"]["scheduledPeriod"]["start"] for a in plan["activity"]]
    assert (
        dates == sorted(dates) and dates[0] >= plan["period"]["start"] and dates[-1] <= plan["period"]["end"]
    )
    found = client.get(f"/CarePlan?patient=Patient/{patient['id']}").json()
    assert found["total"] == 1 and found["entry"][0]["resource"]["id"] == plan["id"]


def test_a_visit_done_completes_its_activity_and_counts_in_progress(
    client: TestClient, referral: dict[str, Any]
) -> None:
    plan = _intake(client, referral)["CarePlan"]
    r = client.post("/Encounter", content=json.dumps(_visit(plan, 1)), headers=FHIR_JSON_HEADERS)
    assert r.status_code == 201, r.text
    encounter = r.json()
    again = client.post("/Encounter", content=json.dumps(_visit(plan, 1)), headers=FHIR_JSON_HEADERS)
    assert again.json()["id"] == encounter["id"]  # the nurse system's visit id: recorded once
    stored = client.get(f"/CarePlan/{plan['id']}").json()
    first = next(a for a in stored["activity"] if activity_sequence(a) == 1)
    assert first["detail"]["status"] == "completed"
    assert first["outcomeReference"] == [{"reference": f"Encounter/{encounter['id']}"}]
    missed = client.post(
        "/Encounter", content=json.dumps(_visit(plan, 2, "cancelled", "v-2")), headers=FHIR_JSON_HEADERS
    )
    assert missed.status_code == 201
    day3 = next(a for a in plan["activity"] if activity_sequence(a) == 3)["detail"]["scheduledPeriod"][
        "start"
    ]
    progress = client.get(f"/CarePlan/{plan['id']}/$progress?date={day3}").json()
    total = {
        p["name"]: p.get("valueInteger")
        for p in next(x for x in progress["parameter"] if x["name"] == "total")["part"]
    }
    assert total["done"] == 1 and total["missed"] == 1 and total["unrecorded"] == 1
    assert total["planned"] == len(plan["activity"])
    on_track = next(x for x in progress["parameter"] if x["name"] == "onTrack")["valueBoolean"]
    assert on_track is False  # 1 missed of 3 due is more than 20%
    day1 = first["detail"]["scheduledPeriod"]["start"]
    by_date = client.get(f"/Encounter?patient={plan['subject']['reference']}&date={day1}").json()
    assert [e["resource"]["id"] for e in by_date["entry"]] == [encounter["id"]]
    assert client.get(f"/Encounter?patient={plan['subject']['reference']}").json()["total"] == 2


def test_a_visit_for_an_unknown_planned_visit_or_referral_is_422_and_stores_nothing(
    client: TestClient, referral: dict[str, Any]
) -> None:
    plan = _intake(client, referral)["CarePlan"]
    r = client.post(
        "/Encounter",
        content=json.dumps(_visit(plan, 1) | {"extension": [{"url": SEQUENCE_EXT, "valueInteger": 999}]}),
        headers=FHIR_JSON_HEADERS,
    )
    assert r.status_code == 422
    wrong = _visit(plan, 1, ident="v-9") | {"basedOn": [{"reference": "ServiceRequest/unknown"}]}
    r = client.post("/Encounter", content=json.dumps(wrong), headers=FHIR_JSON_HEADERS)
    assert r.status_code == 422 and r.json()["issue"][0]["expression"] == ["Encounter.basedOn"]
    assert client.get("/Encounter").json()["total"] == 0
