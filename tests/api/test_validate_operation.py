"""`$validate` through the REST facade: type level (body or Parameters, with profile) and instance level."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import FHIR_JSON_HEADERS

CLIENT = "https://fhir.voorzorg.nl/StructureDefinition/voorzorg-client"


def _patient(referral: dict[str, Any]) -> dict[str, Any]:
    return dict(next(e["resource"] for e in referral["entry"] if e["resource"]["resourceType"] == "Patient"))


def test_a_valid_client_has_no_issues_and_a_bad_bsn_is_named(
    client: TestClient, referral: dict[str, Any]
) -> None:
    patient = _patient(referral)
    ok = client.post(
        f"/Patient/$validate?profile={CLIENT}", content=json.dumps(patient), headers=FHIR_JSON_HEADERS
    )
    assert ok.status_code == 200
    assert [i["severity"] for i in ok.json()["issue"]] == ["information"]
    patient["identifier"] = [{"system": "http://fhir.nl/fhir/NamingSystem/bsn", "value": "999911121"}]
    del patient["birthDate"]
    params = {
        "resourceType": "Parameters",
        "parameter": [{"name": "resource", "resource": patient}, {"name": "profile", "valueUri": CLIENT}],
    }
    bad = client.post("/Patient/$validate", content=json.dumps(params), headers=FHIR_JSON_HEADERS).json()
    errors = [i for i in bad["issue"] if i["severity"] == "error"]
    assert len(errors) == 2  # both problems at once
    assert any(e["expression"] == ["Patient.birthDate"] for e in errors)
    assert any("bsn-elfproef" in e["diagnostics"] for e in errors)


def test_an_unknown_profile_is_400_and_a_stored_resource_validates(
    client: TestClient, referral: dict[str, Any]
) -> None:
    r = client.post(
        "/Patient/$validate?profile=https://example.org/nope",
        content=json.dumps(_patient(referral)),
        headers=FHIR_JSON_HEADERS,
    )
    assert r.status_code == 400
    out = client.post("/", content=json.dumps(referral), headers=FHIR_JSON_HEADERS).json()
    plan = next(e["resource"] for e in out["entry"] if e["resource"]["resourceType"] == "CarePlan")
    checked = client.get(f"/CarePlan/{plan['id']}/$validate").json()
    assert [i["severity"] for i in checked["issue"]] == ["information"]
    assert client.get("/CarePlan/unknown/$validate").status_code == 404
