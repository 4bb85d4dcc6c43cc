"""The birth reported (child's Patient, or the delivery date): the visit plan moves, records stay."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

from fastapi.testclient import TestClient

from adapter.mapping.careplan_out import PHASE_EXT, activity_date, activity_sequence
from adapter.store.engine import Store
from adapter.workflows.birth import record_delivery_date
from tests.api.test_careplan import _intake, _visit
from tests.conftest import FHIR_JSON_HEADERS

BSN = "http://fhir.nl/fhir/NamingSystem/bsn"
BORN = date(2026, 8, 10)  # three weeks before the EDD of the example referral (2026-08-31)


def _child(mother: str, born: date = BORN, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "name": [{"family": "Jansen", "given": ["Noor"]}],
        "birthDate": born.isoformat(),
        "link": [{"other": {"reference": mother}, "type": "seealso"}],
        **extra,
    }


def _delivery(mother: str, born: date) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "meta": {"profile": ["https://fhir.voorzorg.nl/StructureDefinition/voorzorg-delivery-date"]},
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "93857-1"}]},
        "subject": {"reference": mother},
        "valueDateTime": f"{born.isoformat()}T03:40:00+02:00",
    }


def _post(client: TestClient, path: str, body: dict[str, Any]) -> Any:
    return client.post(path, content=json.dumps(body), headers=FHIR_JSON_HEADERS)


def _phase_dates(plan: dict[str, Any], phase: str) -> list[date]:
    return [
        activity_date(a)
        for a in plan["activity"]
        if any(e["url"] == PHASE_EXT and e["valueCode"] == phase for e in a["detail"]["extension"])
    ]


def _accepted_with_two_visits(client: TestClient, referral: dict[str, Any]) -> dict[str, Any]:
    plan = _intake(client, referral)["CarePlan"]
    for seq, status in ((1, "finished"), (2, "cancelled")):
        assert _post(client, "/Encounter", _visit(plan, seq, status, f"v-{seq}")).status_code == 201
    return plan


def test_the_child_born_early_moves_the_visits_still_to_come_and_keeps_the_recorded_ones(
    client: TestClient, referral: dict[str, Any]
) -> None:
    plan = _accepted_with_two_visits(client, referral)
    mother = plan["subject"]["reference"]
    r = _post(client, "/Patient", _child(mother))
    assert r.status_code == 201, r.text
    child = r.json()
    assert child["link"][0]["other"]["reference"] == mother
    after = client.get(f"/CarePlan/{plan['id']}").json()
    assert after["period"] == {"start": plan["period"]["start"], "end": "2028-08-10"}
    assert {"reference": f"Patient/{child['id']}"} in after["supportingInfo"]
    for seq, status in ((1, "completed"), (2, "cancelled")):
        before = next(a for a in plan["activity"] if activity_sequence(a) == seq)
        now = next(a for a in after["activity"] if activity_sequence(a) == seq)
        assert now["detail"]["status"] == status and "outcomeReference" in now
        assert activity_date(now) == activity_date(before)
    assert _phase_dates(after, "postpartum-early")[0] == BORN + timedelta(days=7)
    assert max(_phase_dates(after, "pregnancy")) < BORN
    dates = [activity_date(a) for a in after["activity"]]
    assert dates == sorted(dates) and 40 <= len(dates) <= 60
    assert any("Re-timed to the actual birth on 2026-08-10" in n["text"] for n in after["note"])
    version = after["meta"]["versionId"]
    again = _post(client, "/Patient", _child(mother))
    assert again.status_code == 200 and again.json()["id"] == child["id"]
    assert client.get(f"/CarePlan/{plan['id']}").json()["meta"]["versionId"] == version


def test_a_corrected_delivery_date_re_times_again(
    client: TestClient, store: Store, referral: dict[str, Any]
) -> None:
    plan = _accepted_with_two_visits(client, referral)
    mother = plan["subject"]["reference"]
    first = _post(client, "/Observation", _delivery(mother, BORN))
    assert first.status_code == 201, first.text
    assert client.get(f"/CarePlan/{plan['id']}").json()["period"]["end"] == "2028-08-10"
    corrected = record_delivery_date(store, _delivery(mother, BORN + timedelta(days=2)))
    assert corrected.report.stored.res_id == first.json()["id"] and corrected.careplan is not None
    after = client.get(f"/CarePlan/{plan['id']}").json()
    assert after["period"]["end"] == "2028-08-12"
    assert _phase_dates(after, "postpartum-early")[0] == BORN + timedelta(days=9)
    report = f"Observation/{first.json()['id']}"
    assert [i for i in after["supportingInfo"] if i["reference"].startswith("Observation/")] == [
        {"reference": report}
    ]


def test_a_birth_that_cannot_be_placed_is_422_naming_the_element_and_changes_nothing(
    client: TestClient, referral: dict[str, Any]
) -> None:
    plan = _intake(client, referral)["CarePlan"]
    mother = plan["subject"]["reference"]
    cases = [
        (_child(mother) | {"link": []}, "Patient.link"),
        (_child("Patient/unknown"), "Patient.link[0].other"),
        (_child(mother, identifier=[{"system": BSN, "value": "123456789"}]), "Patient.identifier[0].value"),
        (_child(mother, born=date(2026, 1, 5)), None),  # before the intake, while she was pregnant
    ]
    for body, element in cases:
        r = _post(client, "/Patient", body)
        assert r.status_code == 422, r.text
        issue = r.json()["issue"][0]
        if element:
            assert issue["expression"] == [element]
        else:
            assert "before the intake" in issue["diagnostics"]
    assert client.get(f"/CarePlan/{plan['id']}").json()["meta"]["versionId"] == plan["meta"]["versionId"]
    assert client.get(f"/Patient?link={mother}").json()["total"] == 0
