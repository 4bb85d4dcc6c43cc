"""No input makes a 500, and SQLite and PostgreSQL accept and refuse the same input (issue #16, found 4).

Numbers are range-checked before anything is computed with them; NUL characters and lone surrogates
are refused (400, naming where) in bodies, query strings, forms and paths; identifiers, codes and
references over the limits of `mappings/input-limits.yaml` are refused (422, naming the element) on
both backends, and at the limit stored on both. Every test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from adapter.config import Settings
from adapter.fhir.outcome import FhirError
from adapter.store.engine import Store
from tests.api.bodies import intake, send, visit
from tests.api.helpers import EDD, PATIENT, SR, URN, entry, expressions, nothing_stored, post, resource
from tests.api.test_bad_input import outcome_of
from tests.security.helpers import privacy_officer

PATHS = ["/", "/$check-eligibility"]


def _duration_instead_of_edd(referral: dict[str, Any], value: Any, unit: str = "wk") -> None:
    obs = resource(referral, EDD)
    obs["code"] = {"coding": [{"system": "http://snomed.info/sct", "code": "57036006"}]}
    del obs["valueDateTime"]
    obs["valueQuantity"] = {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit}


# --- numbers ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("weeks", [1e308, 1.7976931348623157e308, 10**17, -1e308, 45, -1])
def test_a_pregnancy_duration_out_of_range_is_422_naming_it(
    client: TestClient, referral: dict[str, Any], path: str, weeks: float
) -> None:
    """1e308 weeks was an OverflowError (500) on both backends, in $check-eligibility too."""
    _duration_instead_of_edd(referral, weeks)
    out = outcome_of(post(client, referral, path), 422)
    assert "Bundle.entry[4].resource.value" in expressions(out)
    nothing_stored(client)


@pytest.mark.parametrize("path", PATHS)
def test_a_plausible_pregnancy_duration_is_decided(
    client: TestClient, referral: dict[str, Any], path: str
) -> None:
    _duration_instead_of_edd(referral, 14)
    assert post(client, referral, path).status_code == 200


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(
    "number", ["NaN", "Infinity", "-Infinity", "1e400", "9" * 19, "9" * 5000], ids=lambda n: n[:8]
)
def test_numbers_json_or_fhir_cannot_hold_are_400(
    client: TestClient, referral: dict[str, Any], path: str, number: str
) -> None:
    resource(referral, "11")["valueInteger"] = 12345
    body = json.dumps(referral).replace("12345", number)
    out = outcome_of(post(client, body, path), 400)
    if number not in ("NaN", "Infinity", "-Infinity", "9" * 5000):  # the parser says no: no element
        assert "Bundle.entry[5].resource.valueInteger" in expressions(out)
    nothing_stored(client)


@pytest.mark.parametrize("query", ["_offset=" + "9" * 30, "_count=" + "9" * 30, "_offset=2147483648"])
@pytest.mark.parametrize("endpoint", ["/Patient", "/Task", "/AuditEvent"])
def test_paging_numbers_out_of_range_are_400(
    app: FastAPI, settings: Settings, client: TestClient, endpoint: str, query: str
) -> None:
    """A 30-digit _offset was a 500 on both backends (Python int too large for the database)."""
    asking = privacy_officer(app, settings) if endpoint == "/AuditEvent" else client
    out = outcome_of(asking.get(f"{endpoint}?{query}"), 400)
    assert query.split("=")[0] in expressions(out)


def test_paging_at_the_limit_answers(client: TestClient) -> None:
    r = client.get("/Patient?_offset=2147483647&_count=2147483647")
    assert r.status_code == 200 and r.json()["total"] == 0


@pytest.mark.parametrize(
    "when", ["0001-01-01T00:30:00+01:00", "9999-12-31T23:30:00-05:00", "gt0001-01-01T00:00:00+14:00"]
)
def test_instants_at_the_edge_of_the_calendar_are_searchable(client: TestClient, when: str) -> None:
    """A time zone offset carries these past year 1 or 9999 in UTC: was an OverflowError (500)."""
    r = client.get("/Patient", params={"_lastUpdated": when})
    assert r.status_code == 200, r.text


# --- NUL characters and lone surrogates ---------------------------------------------------------------
UNSTORABLE = {"nul": "\u0000", "lone-surrogate": "\ud800", "lone-low-surrogate": "\udfff"}


def _with(referral: dict[str, Any], where: str, char: str) -> tuple[dict[str, Any], str]:
    """The referral with `char` put into one element; the element's FHIRPath."""
    if where == "name":
        resource(referral, PATIENT)["name"][0]["family"] = f"Jan{char}sen"
        return referral, "Bundle.entry[0].resource.name[0].family"
    if where == "identifier":
        resource(referral, SR)["identifier"][0]["value"] = f"VZ{char}2026"
        return referral, "Bundle.entry[2].resource.identifier[0].value"
    if where == "reference":
        resource(referral, SR)["subject"]["reference"] = f"{URN}01{char}"
        return referral, "Bundle.entry[2].resource.subject.reference"
    entry(referral, PATIENT)["resource"][f"birth{char}Date"] = "2004-05-17"
    return referral, f"Bundle.entry[0].resource.birth{char!r}Date".replace("'", "")


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("where", ["name", "identifier", "reference", "key"])
@pytest.mark.parametrize("char", UNSTORABLE.values(), ids=UNSTORABLE.keys())
def test_unstorable_characters_in_a_referral_are_400_naming_the_element(
    client: TestClient, referral: dict[str, Any], path: str, where: str, char: str
) -> None:
    """PostgreSQL failed (500) on a NUL in an identifier or reference that SQLite stored."""
    body, expression = _with(referral, where, char)
    out = outcome_of(post(client, json.dumps(body), path), 400)  # json.dumps writes \u0000, \ud800
    assert expressions(out) == [expression], out
    nothing_stored(client)


@pytest.mark.parametrize("char", UNSTORABLE.values(), ids=UNSTORABLE.keys())
def test_unstorable_characters_in_other_writes_are_400(
    client: TestClient, referral: dict[str, Any], char: str
) -> None:
    made = intake(client, referral)
    encounter = visit(made["CarePlan"])
    encounter["identifier"][0]["value"] = f"v{char}1"
    out = outcome_of(send(client, "POST", "/Encounter", encounter), 400)
    assert expressions(out) == ["Encounter.identifier[0].value"]
    task = {**made["Task"], "status": "in-progress", "note": [{"text": f"a{char}b"}]}
    out = outcome_of(send(client, "PUT", f"/Task/{task['id']}", task, **{"If-Match": 'W/"1"'}), 400)
    assert expressions(out) == ["Task.note[0].text"]
    assert client.get("/Encounter").json()["total"] == 0
    assert client.get(f"/Task/{task['id']}").json()["meta"]["versionId"] == "1"


@pytest.mark.parametrize(
    "query",
    [
        "/Patient?identifier=http://fhir.nl/fhir/NamingSystem/bsn%7C9999%00",
        "/Patient?_id=a%00b",
        "/Task?status=a%00",
        "/Patient?ident%00ifier=1",
        "/AuditEvent?patient=Patient/a%00b",
        "/CarePlan/x/$progress?date=2026-01-01%00",
    ],
)
def test_a_nul_in_a_query_string_is_400_naming_the_parameter(client: TestClient, query: str) -> None:
    """PostgreSQL failed (500) on a NUL in a search value; SQLite searched with it."""
    out = outcome_of(client.get(query), 400)
    name = query.split("?", 1)[1].split("=", 1)[0].replace("%00", "\\x00")
    assert expressions(out) == [name]


def test_a_nul_in_a_path_is_400(client: TestClient) -> None:
    outcome_of(client.get("/Patient/a%00b"), 400)
    outcome_of(client.get("/Patient/a%00b/_history/1"), 400)


def test_a_nul_in_a_search_form_is_400_naming_the_parameter(client: TestClient) -> None:
    r = client.post("/Patient/_search", data={"identifier": "http://fhir.nl/fhir/NamingSystem/bsn|9\x00"})
    assert expressions(outcome_of(r, 400)) == ["identifier"]


# --- lengths -------------------------------------------------------------------------------------------
def _long(referral: dict[str, Any], where: str, n: int) -> str:
    if where == "identifier-value":
        resource(referral, SR)["identifier"][0]["value"] = "V" * n
        return "Bundle.entry[2].resource.identifier[0].value"
    if where == "identifier-system":
        resource(referral, SR)["identifier"][0]["system"] = "urn:x:" + "s" * (n - 6)
        return "Bundle.entry[2].resource.identifier[0].system"
    if where == "code":
        resource(referral, SR)["category"] = [{"coding": [{"system": "urn:x", "code": "c" * n}]}]
        return "Bundle.entry[2].resource.category[0].coding[0].code"
    resource(referral, SR)["basedOn"] = [{"reference": "ServiceRequest/" + "r" * (n - 15)}]
    return "Bundle.entry[2].resource.basedOn[0].reference"


@pytest.mark.parametrize("where", ["identifier-value", "identifier-system", "code", "reference"])
@pytest.mark.parametrize("path", PATHS)
def test_identifiers_codes_and_references_over_255_are_422_on_both_backends(
    client: TestClient, referral: dict[str, Any], where: str, path: str
) -> None:
    """PostgreSQL failed (500) on a 256-character identifier that SQLite stored."""
    expression = _long(referral, where, 256)
    out = outcome_of(post(client, referral, path), 422)
    assert expression in expressions(out)
    nothing_stored(client)


@pytest.mark.parametrize("where", ["identifier-value", "identifier-system"])
def test_identifiers_of_255_are_stored_on_both_backends(
    client: TestClient, referral: dict[str, Any], where: str
) -> None:
    _long(referral, where, 255)
    r = post(client, referral)
    assert r.status_code == 200, r.text
    ident = resource(referral, SR)["identifier"][0]
    found = client.get("/ServiceRequest", params={"identifier": f"{ident['system']}|{ident['value']}"})
    assert found.json()["total"] == 1


def test_a_requester_identifier_that_cannot_be_kept_is_422(
    client: TestClient, referral: dict[str, Any]
) -> None:
    """`system|value` of the sending practice is kept (who has a part in what) in 255 characters."""
    resource(referral, "02")["identifier"][0]["value"] = "9" * 250
    out = outcome_of(post(client, referral), 422)
    assert "Bundle.entry[2].resource.requester" in expressions(out)
    nothing_stored(client)


@pytest.mark.parametrize(
    "content",
    [
        {"resourceType": "Task", "id": "t1", "status": "s" * 256, "intent": "order"},
        {
            "resourceType": "Task",
            "id": "t1",
            "status": "ready",
            "intent": "order",
            "for": {"reference": "P/" + "p" * 300},
        },
    ],
    ids=["code", "reference"],
)
def test_the_store_refuses_what_does_not_fit_its_columns_on_both_backends(
    store: Store, content: dict[str, Any]
) -> None:
    """Whatever reaches the store: an indexed value longer than its column is a 422 naming the element,
    on SQLite (which would store it) as on PostgreSQL (which would fail), and nothing is written."""
    with pytest.raises(FhirError) as e:
        store.write(lambda s: s.put(content))
    assert e.value.status == 422
    assert e.value.issues[0].expression[0].startswith("Task.")
    with pytest.raises(FhirError):
        store.write(lambda s: s.claim_key("Patient", "urn:x", "v" * 256, "p1"))
    with store.reading() as s:
        assert s.get("Task", "t1") is None and s.find_key("Patient", "urn:x", "v" * 256) is None


# --- found by tests/api/test_input_properties.py --------------------------------------------------------
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(
    ("where", "value", "expression"),
    [
        ("resourceType", 7, "Bundle.entry[0].resource.resourceType"),
        ("resourceType", "Referral", "Bundle.entry[0].resource.resourceType"),
        ("resourceType", None, "Bundle.entry[0].resource.resourceType"),
        ("name", None, "Bundle.entry[0].resource.name"),
        ("birthDate", 0, "Bundle.entry[0].resource.birthDate"),
        ("birthDate", 1e-308, "Bundle.entry[0].resource.birthDate"),
        ("gender", 1, "Bundle.entry[0].resource.gender"),
    ],
    ids=[
        "type-a-number",
        "type-unknown",
        "type-missing",
        "null",
        "zero-for-a-date",
        "tiny-for-a-date",
        "number-for-a-code",
    ],
)
def test_odd_json_in_a_nested_resource_is_400_naming_it(
    client: TestClient, referral: dict[str, Any], path: str, where: str, value: Any, expression: str
) -> None:
    """The models failed (KeyError, TypeError) on these, or took a number for a date (as a Unix time)."""
    patient = resource(referral, PATIENT)
    if value is None and where == "resourceType":
        del patient["resourceType"]
    else:
        patient[where] = value
    out = outcome_of(post(client, referral, path), 400)
    assert expression in expressions(out), out
    nothing_stored(client)


def test_nulls_are_400_and_aligned_primitive_arrays_are_fine(
    client: TestClient, referral: dict[str, Any]
) -> None:
    made = intake(client, referral)
    mother = f"Patient/{made['Patient']['id']}"
    child = {"resourceType": "Patient", "name": [{"given": None}], "birthDate": "2026-08-10"}
    child["link"] = [{"other": {"reference": mother}, "type": "seealso"}]
    out = outcome_of(send(client, "POST", "/Patient", child), 400)
    assert expressions(out) == ["Patient.name[0].given"]
    child["name"] = [
        {"given": ["Noor", None], "_given": [None, {"extension": [{"url": "urn:x", "valueString": "x"}]}]}
    ]
    assert send(client, "POST", "/Patient", child).status_code in (200, 201)


@pytest.mark.parametrize(
    ("operation", "body"),
    [
        ("consult", {"resourceType": "Parameters", "parameter": "question"}),
        ("consult", {"resourceType": "Parameters", "parameter": ["question"]}),
        (
            "apply",
            {"resourceType": "Parameters", "parameter": [{"name": "subject", "valueReference": "Patient/x"}]},
        ),
        ("apply", {"resourceType": "Parameters", "parameter": [{"valueString": "Patient/x"}]}),
        ("eligibility", {"resourceType": "Parameters", "parameter": [None]}),
        (
            "eligibility",
            {
                "resourceType": "Parameters",
                "parameter": [{"name": "referral", "resource": {"type": "transaction"}}],
            },
        ),
        (
            "validate",
            {"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": "Patient"}]},
        ),
        ("validate", {"resourceType": "Parameters", "parameter": [{"name": "profile", "valueUri": 7}]}),
    ],
)
def test_odd_parameters_of_an_operation_are_4xx(
    client: TestClient, referral: dict[str, Any], operation: str, body: dict[str, Any]
) -> None:
    """Each was a 500 (a parameter that is no object, a reference that is a string, ...)."""
    made = intake(client, referral)
    path = {
        "consult": f"/ServiceRequest/{made['ServiceRequest']['id']}/$request-consult",
        "apply": "/PlanDefinition/voorzorg-plan-voorzorg/$apply",
        "eligibility": "/$check-eligibility",
        "validate": "/Patient/$validate",
    }[operation]
    r = send(client, "POST", path, body)
    assert 400 <= r.status_code < 500, r.text
    assert r.json()["resourceType"] == "OperationOutcome"
