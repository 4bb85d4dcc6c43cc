"""Strict where FHIR is strict, and plausible where the referral contract reads (issue #16, found 5).

Duplicate JSON keys (400), a modifierExtension the server does not understand (422, on every write), a
Bundle entry method other than the contract's (422), implausible values (`mappings/referral-codes.yaml`:
parity, gravidity, the mother's age, the referral date, dates before 1900; 422), a Period that ends
before it starts (base invariant per-1), a home visit for someone who is not the plan's client: each
refused naming the element, and nothing stored. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.bodies import intake, send, sharing_consent, visit
from tests.api.helpers import BSN, CONSENT, PARITY, PATIENT, SR, expressions, nothing_stored, post, resource
from tests.api.test_bad_input import outcome_of

PATHS = ["/", "/$check-eligibility"]
INVALID_BSN = "999911121"  # fails the eleven-test
UNKNOWN_MODIFIER = [{"url": "https://example.org/fhir/StructureDefinition/not-really", "valueBoolean": True}]


# --- duplicate keys ---------------------------------------------------------------------------------
@pytest.mark.parametrize("path", PATHS)
def test_a_duplicate_json_key_is_400_naming_it(
    client: TestClient, referral: dict[str, Any], path: str
) -> None:
    """The last key won: an invalid BSN followed by a valid one passed the eleven-test."""
    text = json.dumps(referral).replace(f'"value": "{BSN}"', f'"value": "{INVALID_BSN}", "value": "{BSN}"', 1)
    out = outcome_of(post(client, text, path), 400)
    assert expressions(out) == ["Bundle.entry[0].resource.identifier[0].value"]
    nothing_stored(client)


def test_duplicate_keys_are_400_in_every_body(client: TestClient, referral: dict[str, Any]) -> None:
    made = intake(client, referral)
    encounter = json.dumps(visit(made["CarePlan"])).replace(
        '"status": "finished"', '"status": "cancelled", "status": "finished"'
    )
    out = outcome_of(send(client, "POST", "/Encounter", encounter), 400)
    assert expressions(out) == ["Encounter.status"]
    task = json.dumps({**made["Task"], "status": "in-progress"}).replace(
        '"resourceType": "Task"', '"resourceType": "Task", "resourceType": "Task"'
    )
    out = outcome_of(send(client, "PUT", f"/Task/{made['Task']['id']}", task, **{"If-Match": 'W/"1"'}), 400)
    assert expressions(out) == ["Task.resourceType"]
    assert client.get("/Encounter").json()["total"] == 0


# --- modifier extensions -------------------------------------------------------------------------------
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(
    ("suffix", "where"),
    [(PATIENT, ""), (SR, ""), (CONSENT, ".provision")],
    ids=["patient", "service-request", "consent-provision"],
)
def test_an_unknown_modifier_extension_in_a_referral_is_422(
    client: TestClient, referral: dict[str, Any], path: str, suffix: str, where: str
) -> None:
    index = {PATIENT: 0, SR: 2, CONSENT: 9}[suffix]
    target = resource(referral, suffix)
    if where:
        target = target.setdefault(where[1:], {"type": "permit"})
    target["modifierExtension"] = UNKNOWN_MODIFIER
    out = outcome_of(post(client, referral, path), 422)
    assert expressions(out) == [f"Bundle.entry[{index}].resource{where}.modifierExtension[0]"]
    assert out["issue"][0]["code"] == "not-supported"
    nothing_stored(client)


def test_an_unknown_modifier_extension_is_422_on_every_write(
    client: TestClient, referral: dict[str, Any]
) -> None:
    made = intake(client, referral)
    patient_ref = f"Patient/{made['Patient']['id']}"
    task = {**made["Task"], "status": "in-progress", "modifierExtension": UNKNOWN_MODIFIER}
    writes = [
        (
            "POST",
            "/Encounter",
            {**visit(made["CarePlan"]), "modifierExtension": UNKNOWN_MODIFIER},
            "Encounter",
        ),
        ("PUT", f"/Task/{task['id']}", task, "Task"),
        (
            "POST",
            "/Consent",
            {**sharing_consent(patient_ref), "modifierExtension": UNKNOWN_MODIFIER},
            "Consent",
        ),
    ]
    for method, path, body, rtype in writes:
        out = outcome_of(send(client, method, path, body, **{"If-Match": 'W/"1"'}), 422)
        assert expressions(out) == [f"{rtype}.modifierExtension[0]"], (path, out)
    assert client.get("/Encounter").json()["total"] == 0
    assert client.get(f"/Task/{task['id']}").json()["status"] == made["Task"]["status"]
    assert client.get(f"/Consent?patient={patient_ref}").json()["total"] == 1  # the referral's own


# --- entry methods ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("method", ["DELETE", "GET", "PATCH", "HEAD"])
def test_an_entry_method_other_than_the_contracts_is_422(
    client: TestClient, referral: dict[str, Any], path: str, method: str
) -> None:
    """DELETE was taken as a create."""
    referral["entry"][1]["request"]["method"] = method
    out = outcome_of(post(client, referral, path), 422)
    assert expressions(out) == ["Bundle.entry[1].request.method"]
    nothing_stored(client)


def test_put_entries_are_the_contracts_too(client: TestClient, referral: dict[str, Any]) -> None:
    """Notified pull takes a fetched referral in as PUT entries."""
    for e in referral["entry"]:
        e["request"]["method"] = "PUT"
    assert post(client, referral).status_code == 200


# --- plausibility -----------------------------------------------------------------------------------------
def _set(suffix: str, element: str, value: Any) -> Any:
    def f(b: dict[str, Any]) -> None:
        resource(b, suffix)[element] = value

    return f


def _gravidity(value: int) -> Any:
    def f(b: dict[str, Any]) -> None:
        obs = resource(b, PARITY)
        obs["code"] = {"coding": [{"system": "http://snomed.info/sct", "code": "161732006"}]}
        obs["valueInteger"] = value

    return f


TOMORROW_BUT_ONE = (date.today() + timedelta(days=2)).isoformat()
IMPLAUSIBLE = [
    ("parity-99", _set(PARITY, "valueInteger", 99), "Bundle.entry[5].resource.value"),
    ("parity-21", _set(PARITY, "valueInteger", 21), "Bundle.entry[5].resource.value"),
    ("gravidity-0", _gravidity(0), "Bundle.entry[5].resource.value"),
    ("gravidity-31", _gravidity(31), "Bundle.entry[5].resource.value"),
    ("born-in-0001", _set(PATIENT, "birthDate", "0001-05-17"), "Bundle.entry[0].resource.birthDate"),
    ("born-in-1899", _set(PATIENT, "birthDate", "1899-12-31"), "Bundle.entry[0].resource.birthDate"),
    ("aged-9", _set(PATIENT, "birthDate", "2016-03-03"), "Bundle.entry[0].resource.birthDate"),
    ("aged-61", _set(PATIENT, "birthDate", "1965-03-01"), "Bundle.entry[0].resource.birthDate"),
    (
        "born-after-the-referral",
        _set(PATIENT, "birthDate", "2026-03-03"),
        "Bundle.entry[0].resource.birthDate",
    ),
    ("referral-in-2099", _set(SR, "authoredOn", "2099-03-02"), "Bundle.entry[2].resource.authoredOn"),
    ("referral-in-2-days", _set(SR, "authoredOn", TOMORROW_BUT_ONE), "Bundle.entry[2].resource.authoredOn"),
    ("referral-in-1850", _set(SR, "authoredOn", "1850-03-02"), "Bundle.entry[2].resource.authoredOn"),
    ("edd-in-1899", _set("10", "valueDateTime", "1899-08-31"), "Bundle.entry[4].resource.value"),
]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(("name", "mutate", "expression"), IMPLAUSIBLE, ids=[c[0] for c in IMPLAUSIBLE])
def test_implausible_values_are_422_naming_the_element(
    client: TestClient, referral: dict[str, Any], path: str, name: str, mutate: Any, expression: str
) -> None:
    mutate(referral)
    out = outcome_of(post(client, referral, path), 422)
    assert expression in expressions(out), out
    nothing_stored(client)


PLAUSIBLE = [
    ("parity-20", _set(PARITY, "valueInteger", 20)),
    ("gravidity-30", _gravidity(30)),
    ("aged-10", _set(PATIENT, "birthDate", "2016-03-02")),
    ("aged-60", _set(PATIENT, "birthDate", "1965-03-03")),
    ("referral-tomorrow", _set(SR, "authoredOn", (date.today() + timedelta(days=1)).isoformat())),
]


@pytest.mark.parametrize(("name", "mutate"), PLAUSIBLE, ids=[c[0] for c in PLAUSIBLE])
def test_the_plausibility_limits_are_inclusive(
    client: TestClient, referral: dict[str, Any], name: str, mutate: Any
) -> None:
    mutate(referral)
    if name == "referral-tomorrow":  # the EDD must still give a plausible gestational age
        resource(referral, "10")["valueDateTime"] = (date.today() + timedelta(days=150)).isoformat()
    r = post(client, referral, "/$check-eligibility")
    assert r.status_code == 200, r.text


# --- periods (base invariant per-1) ------------------------------------------------------------------------
def test_a_visit_that_ends_before_it_starts_is_422(client: TestClient, referral: dict[str, Any]) -> None:
    made = intake(client, referral)
    encounter = visit(made["CarePlan"])
    day = encounter["period"]["start"][:10]
    encounter["period"] = {"start": f"{day}T11:00:00+01:00", "end": f"{day}T10:00:00+01:00"}
    out = outcome_of(send(client, "POST", "/Encounter", encounter), 422)
    assert expressions(out) == ["Encounter.period"]
    assert client.get("/Encounter").json()["total"] == 0


@pytest.mark.parametrize("path", PATHS)
def test_a_consent_period_that_ends_before_it_starts_is_422(
    client: TestClient, referral: dict[str, Any], path: str
) -> None:
    resource(referral, CONSENT)["provision"] = {
        "type": "permit",
        "period": {"start": "2026-03-02", "end": "2026-03-01"},
    }
    out = outcome_of(post(client, referral, path), 422)
    assert "Bundle.entry[9].resource.provision.period" in expressions(out)
    nothing_stored(client)


def test_a_period_of_one_day_or_open_ended_is_fine(client: TestClient, referral: dict[str, Any]) -> None:
    resource(referral, CONSENT)["provision"] = {
        "type": "permit",
        "period": {"start": "2026-03-02", "end": "2026-03-02T08:00:00Z"},
    }
    assert post(client, referral, "/$check-eligibility").status_code == 200
    resource(referral, CONSENT)["provision"] = {"type": "permit", "period": {"start": "2026-03-02"}}
    assert post(client, referral, "/$check-eligibility").status_code == 200


# --- a visit's subject -------------------------------------------------------------------------------------
@pytest.mark.parametrize("subject", ["Patient/does-not-exist", "Patient/", "other"])
def test_a_visit_for_someone_else_than_the_plans_client_is_422(
    client: TestClient, referral: dict[str, Any], subject: str
) -> None:
    """An Encounter with subject Patient/does-not-exist was stored against the plan."""
    made = intake(client, referral)
    encounter = visit(made["CarePlan"])
    if subject == "other":
        other = json.loads(
            json.dumps(referral).replace(BSN, "180967927").replace("VZ-2026-0042", "VZ-2026-0043")
        )
        subject = f"Patient/{intake(client, other)['Patient']['id']}"
    encounter["subject"] = {"reference": subject}
    out = outcome_of(send(client, "POST", "/Encounter", encounter), 422)
    assert expressions(out) == ["Encounter.subject"]
    assert client.get("/Encounter").json()["total"] == 0
    plan = client.get(f"/CarePlan/{made['CarePlan']['id']}").json()
    assert plan["meta"]["versionId"] == made["CarePlan"]["meta"]["versionId"]


def test_a_visit_for_the_plans_client_by_absolute_url_is_stored(
    client: TestClient, referral: dict[str, Any]
) -> None:
    made = intake(client, referral)
    encounter = visit(made["CarePlan"])
    encounter["subject"] = {"reference": f"http://testserver/{made['CarePlan']['subject']['reference']}"}
    assert send(client, "POST", "/Encounter", encounter).status_code == 201
