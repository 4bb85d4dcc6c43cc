"""Helpers of the client's-path tests: the intake visit's Parameters, an ending, what a client holds."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient
from httpx import Response

from tests.conftest import FHIR_JSON_HEADERS

OWN_ITEM = "https://fhir.voorzorg.nl/CodeSystem/voorzorg-referral-item"
ENDING = "https://fhir.voorzorg.nl/CodeSystem/voorzorg-ending-reason"
SNOMED, LOINC, UCUM = "http://snomed.info/sct", "http://loinc.org", "http://unitsofmeasure.org"
V3 = "http://terminology.hl7.org/CodeSystem/v3-ActCode"

#: finding -> (system, code, value element)
FINDINGS = {
    "voluntary": (OWN_ITEM, "voluntary-participation", "valueBoolean"),
    "forced_framework": (OWN_ITEM, "forced-framework", "valueBoolean"),
    "serious_parenting_problems": (OWN_ITEM, "serious-parenting-problems", "valueBoolean"),
    "takes_part": (OWN_ITEM, "takes-part", "valueBoolean"),
    "edd": (SNOMED, "161714006", "valueDateTime"),
    "duration_weeks": (SNOMED, "57036006", "valueQuantity"),
    "parity": (LOINC, "11977-6", "valueInteger"),
}
ENDING_REASONS = (
    "completed",
    "client-choice",
    "moved",
    "not-reachable",
    "pregnancy-ended-or-child-died",
    "child-placed-out-of-home",
    "referred-to-other-care",
    "other",
)


def post_json(client: TestClient, path: str, body: Any) -> Response:
    return client.post(path, content=json.dumps(body), headers=FHIR_JSON_HEADERS)


def intake(client: TestClient, referral: dict[str, Any]) -> dict[str, dict[str, Any]]:
    r = post_json(client, "/", referral)
    assert r.status_code == 200, r.text
    return {e["resource"]["resourceType"]: e["resource"] for e in r.json()["entry"]}


def finding(patient: str, name: str, value: Any, on: str) -> dict[str, Any]:
    system, code, element = FINDINGS[name]
    obs: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": system, "code": code}]},
        "subject": {"reference": patient},
        "effectiveDateTime": on,
    }
    if element == "valueQuantity":
        obs[element] = {"value": value, "unit": "wk", "system": UCUM, "code": "wk"}
    else:
        obs[element] = value
    return obs


def intake_visit(patient: str, on: str = "2026-03-09", **findings: Any) -> dict[str, Any]:
    """The Parameters of `$intake-visit`: the visit on `on` and the findings given (name=value)."""
    visit = {
        "resourceType": "Encounter",
        "status": "finished",
        "class": {"system": V3, "code": "HH"},
        "type": [{"coding": [{"system": OWN_ITEM, "code": "intake-visit"}]}],
        "subject": {"reference": patient},
        "participant": [{"individual": {"reference": "Practitioner/nurse-1", "display": "Sanne Jansen"}}],
        "period": {"start": f"{on}T10:00:00+01:00", "end": f"{on}T11:30:00+01:00"},
    }
    return {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "visit", "resource": visit},
            *({"name": "finding", "resource": finding(patient, n, v, on)} for n, v in findings.items()),
        ],
    }


def ending(reason: str | None, on: str | None, note: str | None = None) -> dict[str, Any]:
    params: list[dict[str, Any]] = []
    if on is not None:
        params.append({"name": "date", "valueDate": on})
    if reason is not None:
        params.append({"name": "reason", "valueCoding": {"system": ENDING, "code": reason}})
    if note is not None:
        params.append({"name": "note", "valueString": note})
    return {"resourceType": "Parameters", "parameter": params}


def parts(parameters: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for p in parameters["parameter"]:
        out.setdefault(p["name"], []).append(p["resource"])
    return out


def code_of(concept: dict[str, Any]) -> str:
    return str(concept["coding"][0]["code"])


def extension(resource: dict[str, Any], name: str) -> list[dict[str, Any]]:
    url = f"https://fhir.voorzorg.nl/StructureDefinition/voorzorg-{name}"
    return [e for e in resource.get("extension", []) if e["url"] == url]


def phases(programme: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    out = []
    for e in extension(programme, "programme-phase"):
        p = {x["url"]: x for x in e["extension"]}
        period = p["period"]["valuePeriod"]
        out.append((p["phase"]["valueCode"], period["start"], period.get("end")))
    return out


def versions(client: TestClient, *refs: str) -> dict[str, str]:
    """The current version of each resource (to show a refused request changed nothing)."""
    return {ref: client.get(f"/{ref}").json()["meta"]["versionId"] for ref in refs}
