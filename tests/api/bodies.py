"""Valid writes besides a referral, for the bad-input tests: a home visit against the plan, a sharing
consent, and the referral's Task as read (each one to be broken by a test)."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient

from adapter.mapping.careplan_out import SEQUENCE_EXT, activity_sequence
from tests.conftest import FHIR_JSON_HEADERS

OWN_ITEM = "https://fhir.voorzorg.nl/CodeSystem/voorzorg-referral-item"
SHARING = "https://fhir.voorzorg.nl/CodeSystem/voorzorg-sharing"


def intake(client: TestClient, referral: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Take the referral in; its resources by type (Patient, ServiceRequest, Task, CarePlan, ...)."""
    r = client.post("/", content=json.dumps(referral), headers=FHIR_JSON_HEADERS)
    assert r.status_code == 200, r.text
    return {e["resource"]["resourceType"]: e["resource"] for e in r.json()["entry"]}


def visit(plan: dict[str, Any], sequence: int = 1, ident: str = "v-1") -> dict[str, Any]:
    """A home visit done: planned visit `sequence` of the plan, on its planned day."""
    activity = next(a for a in plan["activity"] if activity_sequence(a) == sequence)
    day = activity["detail"]["scheduledPeriod"]["start"]
    return {
        "resourceType": "Encounter",
        "identifier": [{"system": "urn:example:nurse-visits", "value": ident}],
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "HH"},
        "type": [{"coding": [{"system": OWN_ITEM, "code": "home-visit"}]}],
        "subject": plan["subject"],
        "basedOn": [plan["supportingInfo"][0]],
        "period": {"start": f"{day}T10:00:00+01:00", "end": f"{day}T11:00:00+01:00"},
        "extension": [{"url": SEQUENCE_EXT, "valueInteger": sequence}],
    }


ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"


def sharing_consent(
    patient: str,
    *,
    permit: bool = True,
    recipient: str = "ozks-summary",
    when: str = "2026-03-10T10:00:00+01:00",
    **extra: Any,
) -> dict[str, Any]:
    """Her sharing consent (profile voorzorg-sharing-consent): she permits (OPTIN) or refuses (OPTOUT)
    sharing with `recipient` (CodeSystem voorzorg-sharing; by default the OZKS summary)."""
    return {
        "resourceType": "Consent",
        "meta": {"profile": ["https://fhir.voorzorg.nl/StructureDefinition/voorzorg-sharing-consent"]},
        "status": "active",
        "scope": {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}
            ]
        },
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": {"reference": patient},
        "dateTime": when,
        "policyRule": {"coding": [{"system": ACT_CODE, "code": "OPTIN" if permit else "OPTOUT"}]},
        "provision": {
            "type": "permit" if permit else "deny",
            "code": [{"coding": [{"system": SHARING, "code": recipient}]}],
        },
        **extra,
    }


def send(client: TestClient, method: str, path: str, body: Any, **headers: str) -> Any:
    content = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.request(method, path, content=content, headers={**FHIR_JSON_HEADERS, **headers})
