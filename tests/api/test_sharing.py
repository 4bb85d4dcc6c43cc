"""Sharing with the OZKS on the client's consent: a summary while she consents, gone when she withdraws."""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from adapter.config import Settings
from adapter.store.engine import Store
from adapter.workflows.sharing import may_share_with, summary_id
from tests.api.bodies import sharing_consent
from tests.api.test_careplan import _intake, _visit
from tests.conftest import FHIR_JSON_HEADERS
from tests.security.helpers import client_as

OZKS_ORG = "http://fhir.nl/fhir/NamingSystem/ura|00007777"


def _consent(patient: str, permit: bool = True, code: str = "ozks-summary", **extra: Any) -> dict[str, Any]:
    return sharing_consent(patient, permit=permit, recipient=code, **extra)


def _post(client: TestClient, path: str, body: dict[str, Any]) -> Any:
    return client.post(path, content=json.dumps(body), headers=FHIR_JSON_HEADERS)


def _ozks(app: FastAPI, settings: Settings) -> TestClient:
    return client_as(
        app,
        settings,
        role="ozks",
        scope="system/EpisodeOfCare.rs system/Patient.rs system/CarePlan.rs",
        organization=OZKS_ORG,
    )


def test_the_ozks_sees_a_minimal_summary_only_while_she_consents(
    app: FastAPI, settings: Settings, client: TestClient, referral: dict[str, Any]
) -> None:
    out = _intake(client, referral)
    patient = f"Patient/{out['Patient']['id']}"
    ozks = _ozks(app, settings)
    summary = f"/EpisodeOfCare/{summary_id(patient)}"
    assert ozks.get("/EpisodeOfCare").json()["total"] == 0  # no consent: nothing shared

    r = _post(client, "/Consent", _consent(patient))
    assert r.status_code == 201, r.text
    consent = r.json()
    seen = ozks.get(summary)
    assert seen.status_code == 200, seen.text
    body = seen.json()
    assert body["status"] == "active" and body["type"][0]["coding"][0]["code"] == "voorzorg"
    assert body["patient"]["identifier"] == {
        "system": "http://fhir.nl/fhir/NamingSystem/bsn",
        "value": "999911120",
    }
    assert body["period"] == {"start": out["CarePlan"]["period"]["start"]}
    assert set(body) <= {
        "resourceType",
        "id",
        "meta",
        "status",
        "type",
        "patient",
        "managingOrganization",
        "period",
        "careManager",
    }
    assert ozks.get(f"/{patient}").status_code == 403  # the summary, nothing else
    assert ozks.get(f"/CarePlan/{out['CarePlan']['id']}").status_code == 403

    visit = _visit(out["CarePlan"], 1) | {
        "participant": [{"individual": {"reference": "Practitioner/nurse-1", "display": "Sanne Jansen"}}]
    }
    assert _post(client, "/Encounter", visit).status_code == 201
    assert ozks.get(summary).json()["careManager"] == {
        "reference": "Practitioner/nurse-1",
        "display": "Sanne Jansen",
    }

    withdrawn = {**consent, "status": "inactive"}
    r = client.put(
        f"/Consent/{consent['id']}",
        content=json.dumps(withdrawn),
        headers={**FHIR_JSON_HEADERS, "If-Match": 'W/"1"'},
    )
    assert r.status_code == 200, r.text
    assert ozks.get(summary).status_code == 410  # gone the moment she withdraws
    assert ozks.get("/EpisodeOfCare").json()["total"] == 0


def test_a_newer_consent_that_denies_withdraws_and_a_newer_permit_shares_again(
    client: TestClient, store: Store, referral: dict[str, Any]
) -> None:
    patient = f"Patient/{_intake(client, referral)['Patient']['id']}"
    assert _post(client, "/Consent", _consent(patient)).status_code == 201
    deny = _consent(patient, permit=False) | {"dateTime": "2026-04-01T09:00:00+02:00"}
    assert _post(client, "/Consent", deny).status_code == 201
    assert client.get(f"/EpisodeOfCare/{summary_id(patient)}").status_code == 410
    again = _consent(patient) | {"dateTime": "2026-05-01T09:00:00+02:00"}
    assert _post(client, "/Consent", again).status_code == 201
    assert client.get(f"/EpisodeOfCare/{summary_id(patient)}").status_code == 200
    with store.reading() as s:
        assert may_share_with(s, patient, "jgz-dossier") is True  # opt-out: no objection recorded
    objection = _consent(patient, permit=False, code="jgz-dossier")
    assert _post(client, "/Consent", objection).status_code == 201
    with store.reading() as s:
        assert may_share_with(s, patient, "jgz-dossier") is False
        assert may_share_with(s, patient, "ozks-summary") is True


def test_consents_that_do_not_fit_are_refused_naming_the_element_and_change_nothing(
    client: TestClient, referral: dict[str, Any]
) -> None:
    out = _intake(client, referral)
    patient = f"Patient/{out['Patient']['id']}"
    r = _post(client, "/Consent", _consent(patient, code="everyone"))
    assert r.status_code == 422 and any(
        "Consent.provision.code" in e for i in r.json()["issue"] for e in i.get("expression", [])
    )
    r = _post(client, "/Consent", _consent("Patient/unknown"))
    assert r.status_code == 422 and r.json()["issue"][0]["expression"] == ["Consent.patient"]
    no_date = {k: v for k, v in _consent(patient).items() if k != "dateTime"}
    r = _post(client, "/Consent", no_date)
    assert r.status_code == 422 and any(
        "Consent.dateTime" in e for i in r.json()["issue"] for e in i.get("expression", [])
    )
    assert client.get(f"/Consent?patient={patient}&scope=patient-privacy").json()["total"] == 0

    consent = _post(client, "/Consent", _consent(patient)).json()
    other = client.post("/", content=_other_client(referral), headers=FHIR_JSON_HEADERS)
    moved = {**consent, "patient": {"reference": f"Patient/{other.json()['entry'][0]['resource']['id']}"}}
    r = client.put(
        f"/Consent/{consent['id']}",
        content=json.dumps(moved),
        headers={**FHIR_JSON_HEADERS, "If-Match": 'W/"1"'},
    )
    assert r.status_code == 422 and r.json()["issue"][0]["expression"] == ["Consent.patient"]
    stale = client.put(
        f"/Consent/{consent['id']}",
        content=json.dumps({**consent, "status": "inactive"}),
        headers={**FHIR_JSON_HEADERS, "If-Match": 'W/"7"'},
    )
    assert stale.status_code == 412
    assert client.get(f"/Consent/{consent['id']}").json()["status"] == "active"
    assert client.get(f"/EpisodeOfCare/{summary_id(patient)}").status_code == 200


def _other_client(referral: dict[str, Any]) -> str:
    body = json.loads(json.dumps(referral))
    for e in body["entry"]:
        res = e["resource"]
        if res["resourceType"] == "Patient":
            res["identifier"][0]["value"] = "111222333"
            e.get("request", {}).pop("ifNoneExist", None)
        if res["resourceType"] == "ServiceRequest":
            res["identifier"][0]["value"] = "OTHER-1"
            e.get("request", {}).pop("ifNoneExist", None)
    return json.dumps(body)


def test_a_consult_request_filed_by_hand_keeps_her_summary(
    client: TestClient, referral: dict[str, Any]
) -> None:
    """The consult request is a ServiceRequest about her too; her summary follows her referral, not it."""
    out = _intake(client, referral)
    patient = f"Patient/{out['Patient']['id']}"
    assert _post(client, "/Consent", _consent(patient)).status_code == 201
    reason = {
        "system": "https://fhir.voorzorg.nl/CodeSystem/voorzorg-decision-reason",
        "code": "forced-framework",
    }
    question = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "question", "valueString": "Past het?"},
            {"name": "reason", "valueCoding": reason},
        ],
    }
    asked = _post(client, f"/ServiceRequest/{out['ServiceRequest']['id']}/$request-consult", question)
    assert asked.status_code == 201, asked.text
    assert client.get(f"/EpisodeOfCare/{summary_id(patient)}").status_code == 200
