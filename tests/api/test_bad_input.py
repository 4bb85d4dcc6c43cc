"""Bad input: each answered with the right 4xx OperationOutcome naming the element; nothing stored."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from adapter.api.app import create_app
from adapter.config import Settings
from adapter.store.engine import Store
from tests.api.helpers import (
    CONSENT,
    EDD,
    ORG,
    PARITY,
    PATIENT,
    SR,
    URN,
    VV,
    expressions,
    nothing_stored,
    params,
    post,
    resource,
    track_of,
)

Mutator = Callable[[dict[str, Any]], Any]


def outcome_of(r: Any, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/fhir+json")
    out: dict[str, Any] = r.json()
    assert out["resourceType"] == "OperationOutcome"
    assert out["issue"] and all(i["severity"] == "error" for i in out["issue"])
    assert all(i.get("diagnostics") for i in out["issue"])
    return out


# --- bodies that are no FHIR at all -------------------------------------------------------------

NOT_FHIR: list[tuple[str, str | bytes, list[str]]] = [
    ("not-json", "{this is not json", []),
    ("empty", "", []),
    ("json-array", "[]", []),
    ("json-string", '"Bundle"', []),
    ("no-resource-type", '{"type": "transaction", "entry": []}', ["resourceType"]),
    ("unknown-resource-type", '{"resourceType": "Referral"}', ["resourceType"]),
    ("not-utf8", b'{"resourceType": "Bundle", "id": "\xff\xfe"}', []),
    ("deep-array", "[" * 100_000 + "]" * 100_000, []),
    ("deep-object", '{"resourceType":"Bundle","a":' + '{"a":' * 100 + "1" + "}" * 101, []),
]


@pytest.mark.parametrize("path", ["/", "/$check-eligibility"])
@pytest.mark.parametrize(("name", "body", "expr"), NOT_FHIR, ids=[c[0] for c in NOT_FHIR])
def test_bodies_that_are_not_fhir_are_400(
    client: TestClient, path: str, name: str, body: str | bytes, expr: list[str]
) -> None:
    out = outcome_of(post(client, body, path), 400)
    for e in expr:
        assert e in expressions(out)
    nothing_stored(client)


def test_a_patient_posted_to_the_base_is_400(client: TestClient, referral: dict[str, Any]) -> None:
    out = outcome_of(post(client, resource(referral, PATIENT)), 400)
    assert "resourceType" in expressions(out)
    nothing_stored(client)


def test_a_bundle_without_type_is_400(client: TestClient, referral: dict[str, Any]) -> None:
    del referral["type"]
    out = outcome_of(post(client, referral), 400)
    assert expressions(out) == ["Bundle.type"]
    nothing_stored(client)


@pytest.mark.parametrize("bundle_type", ["batch", "collection", "message", "searchset"])
def test_a_bundle_that_is_no_transaction_is_422(
    client: TestClient, referral: dict[str, Any], bundle_type: str
) -> None:
    referral["type"] = bundle_type
    out = outcome_of(post(client, referral), 422)
    assert expressions(out) == ["Bundle.type"]
    nothing_stored(client)


# --- Bundles that break the contract --------------------------------------------------------------


def _set(suffix: str, element: str, value: Any) -> Mutator:
    def f(b: dict[str, Any]) -> None:
        resource(b, suffix)[element] = value

    return f


def _del(suffix: str, element: str) -> Mutator:
    def f(b: dict[str, Any]) -> None:
        del resource(b, suffix)[element]

    return f


def _parity_as_string(b: dict[str, Any]) -> None:
    r = resource(b, PARITY)
    del r["valueInteger"]
    r["valueString"] = "0"


def _requester_without_agb(b: dict[str, Any]) -> None:
    resource(b, ORG)["identifier"] = [{"system": "urn:oid:2.16.840.1.113883.2.4.6.1", "value": "12345"}]


def _two_patients(b: dict[str, Any]) -> None:
    extra = copy.deepcopy(b["entry"][0])
    extra["fullUrl"] = URN + "99"
    b["entry"].append(extra)


def _unknown_type(b: dict[str, Any]) -> None:
    b["entry"].append(
        {
            "fullUrl": URN + "98",
            "resource": {"resourceType": "Medication", "status": "active"},
            "request": {"method": "POST", "url": "Medication"},
        }
    )


def _consents_disagree(b: dict[str, Any]) -> None:
    extra = copy.deepcopy(b["entry"][9])
    extra["fullUrl"] = URN + "97"
    extra["resource"]["status"] = "rejected"
    b["entry"].append(extra)


# (id, mutator, status, expressions that must all be named)
CONTRACT: list[tuple[str, Mutator, int, list[str]]] = [
    (
        "birthdate-wrong-format",
        _set(PATIENT, "birthDate", "17-05-2004"),
        400,
        ["Bundle.entry[0].resource.birthDate"],
    ),
    (
        "unknown-element",
        _set(PATIENT, "geboortedatum", "2004-05-17"),
        400,
        ["Bundle.entry[0].resource.geboortedatum"],
    ),
    ("gender-not-in-valueset-format", _set(PATIENT, "gender", 1), 400, ["Bundle.entry[0].resource.gender"]),
    (
        "unresolvable-reference",
        lambda b: resource(b, SR)["subject"].update(reference=URN + "99"),
        422,
        ["Bundle.entry[2].resource.subject"],
    ),
    (
        "unresolvable-supporting-info",
        lambda b: resource(b, SR)["supportingInfo"].append({"reference": "Observation/elsewhere"}),
        422,
        ["Bundle.entry[2].resource.supportingInfo[5]"],
    ),
    (
        "invalid-bsn",
        lambda b: resource(b, PATIENT)["identifier"][0].update(value="999911121"),
        422,
        ["Bundle.entry[0].resource.identifier[0].value"],
    ),
    (
        "all-zero-bsn",
        lambda b: resource(b, PATIENT)["identifier"][0].update(value="000000000"),
        422,
        ["Bundle.entry[0].resource.identifier[0].value"],
    ),
    ("missing-bsn", _del(PATIENT, "identifier"), 422, ["Bundle.entry[0].resource.identifier"]),
    ("missing-birthdate", _del(PATIENT, "birthDate"), 422, ["Bundle.entry[0].resource.birthDate"]),
    ("birthdate-year-only", _set(PATIENT, "birthDate", "2004"), 422, ["Bundle.entry[0].resource.birthDate"]),
    ("missing-authoredon", _del(SR, "authoredOn"), 422, ["Bundle.entry[2].resource.authoredOn"]),
    ("missing-referral-identifier", _del(SR, "identifier"), 422, ["Bundle.entry[2].resource.identifier"]),
    (
        "wrong-servicerequest-code",
        _set(SR, "code", {"coding": [{"system": "http://snomed.info/sct", "code": "183524004"}]}),
        422,
        ["Bundle.entry[2].resource.code"],
    ),
    ("servicerequest-status-draft", _set(SR, "status", "draft"), 422, ["Bundle.entry[2].resource.status"]),
    (
        "unknown-own-code",
        lambda b: resource(b, VV)["code"]["coding"][0].update(code="very-vulnerable"),
        422,
        ["Bundle.entry[6].resource.code.coding[0].code"],
    ),
    ("parity-as-string", _parity_as_string, 422, ["Bundle.entry[5].resource.value"]),
    ("negative-parity", _set(PARITY, "valueInteger", -1), 422, ["Bundle.entry[5].resource.value"]),
    ("requester-without-agb-or-ura", _requester_without_agb, 422, ["Bundle.entry[2].resource.requester"]),
    ("no-requester", _del(SR, "requester"), 422, ["Bundle.entry[2].resource.requester"]),
    (
        "edd-three-years-ahead",
        _set(EDD, "valueDateTime", "2029-03-02"),
        422,
        ["Bundle.entry[4].resource.value"],
    ),
    ("edd-in-the-past", _set(EDD, "valueDateTime", "2025-01-01"), 422, ["Bundle.entry[4].resource.value"]),
    ("two-patients", _two_patients, 422, ["Bundle.entry[11].resource"]),
    ("resource-type-not-in-a-referral", _unknown_type, 422, ["Bundle.entry[11].resource.resourceType"]),
    ("consents-disagree", _consents_disagree, 422, ["Bundle.entry[9].resource.status"]),
    ("no-patient", lambda b: b["entry"].pop(0), 422, ["Bundle.entry"]),
    ("entry-without-request", lambda b: b["entry"][9].pop("request"), 422, ["Bundle.entry[9].request"]),
]


@pytest.mark.parametrize("path", ["/", "/$check-eligibility"])
@pytest.mark.parametrize(("name", "mutate", "status", "expr"), CONTRACT, ids=[c[0] for c in CONTRACT])
def test_contract_violations_name_the_element_and_store_nothing(
    client: TestClient,
    referral: dict[str, Any],
    path: str,
    name: str,
    mutate: Mutator,
    status: int,
    expr: list[str],
) -> None:
    mutate(referral)
    out = outcome_of(post(client, referral, path), status)
    named = expressions(out)
    for e in expr:
        assert e in named, (e, out)
    nothing_stored(client)


WRONG_JSON_TYPES = [
    ("patient-active-string", PATIENT, "active", "yes", "Bundle.entry[0].resource.active"),
    (
        "patient-multiple-birth-string",
        PATIENT,
        "multipleBirthInteger",
        "2",
        "Bundle.entry[0].resource.multipleBirthInteger",
    ),
    ("vulnerable-boolean-string", VV, "valueBoolean", "true", "Bundle.entry[6].resource.valueBoolean"),
]


@pytest.mark.parametrize(
    ("name", "suffix", "element", "value", "expr"), WRONG_JSON_TYPES, ids=[c[0] for c in WRONG_JSON_TYPES]
)
def test_a_json_string_for_a_boolean_or_integer_is_400(
    client: TestClient, referral: dict[str, Any], name: str, suffix: str, element: str, value: Any, expr: str
) -> None:
    resource(referral, suffix)[element] = value
    out = outcome_of(post(client, referral), 400)
    assert expr in expressions(out)
    nothing_stored(client)


def test_several_problems_are_reported_at_once(client: TestClient, referral: dict[str, Any]) -> None:
    resource(referral, PATIENT)["identifier"][0]["value"] = "999911121"
    del resource(referral, SR)["authoredOn"]
    resource(referral, VV)["code"]["coding"][0]["code"] = "very-vulnerable"
    _parity_as_string(referral)
    _requester_without_agb(referral)
    for path in ("/", "/$check-eligibility"):
        out = outcome_of(post(client, referral, path), 422)
        assert set(expressions(out)) >= {
            "Bundle.entry[0].resource.identifier[0].value",
            "Bundle.entry[2].resource.authoredOn",
            "Bundle.entry[6].resource.code.coding[0].code",
            "Bundle.entry[5].resource.value",
            "Bundle.entry[2].resource.requester",
        }
    nothing_stored(client)


def test_several_structural_problems_are_reported_at_once(
    client: TestClient, referral: dict[str, Any]
) -> None:
    resource(referral, PATIENT)["birthDate"] = "17-05-2004"
    resource(referral, CONSENT)["dateTime"] = "yesterday"
    out = outcome_of(post(client, referral), 400)
    assert set(expressions(out)) >= {
        "Bundle.entry[0].resource.birthDate",
        "Bundle.entry[9].resource.dateTime",
    }


# --- HTTP-level refusals --------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/$check-eligibility"])
def test_a_body_over_1_mib_is_413(client: TestClient, referral: dict[str, Any], path: str) -> None:
    resource(referral, PATIENT)["name"][0]["text"] = "x" * (1024 * 1024)
    outcome_of(post(client, referral, path), 413)
    nothing_stored(client)


@pytest.fixture
def small_client(store: Store, tmp_path: Path, auth_headers: dict[str, str]) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path, base_url="http://testserver", max_body_bytes=2000)
    yield TestClient(create_app(settings, store), headers=auth_headers)


def test_the_body_limit_is_a_setting(small_client: TestClient, referral: dict[str, Any]) -> None:
    assert len(json.dumps(referral)) > 2000
    outcome_of(post(small_client, referral), 413)
    nothing_stored(small_client)


def test_the_body_limit_holds_without_content_length(
    small_client: TestClient, referral: dict[str, Any]
) -> None:
    """A chunked body (no Content-Length) is cut off while it streams in."""
    data = json.dumps(referral).encode()

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(data), 500):
            yield data[i : i + 500]

    r = small_client.post("/", content=chunks(), headers={"Content-Type": "application/fhir+json"})
    assert "content-length" not in {k.lower() for k in r.request.headers}
    outcome_of(r, 413)
    nothing_stored(small_client)


@pytest.mark.parametrize("path", ["/", "/$check-eligibility"])
@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "application/fhir+xml", None])
def test_a_body_that_is_not_json_by_content_type_is_415(
    client: TestClient, referral: dict[str, Any], path: str, content_type: str | None
) -> None:
    headers = {"Accept": "application/fhir+json"}
    if content_type:
        headers["Content-Type"] = content_type
    r = client.post(path, content=json.dumps(referral).encode(), headers=headers)
    if content_type is None:
        r = client.post(path, content=json.dumps(referral).encode(), headers={"Content-Type": ""})
    outcome_of(r, 415)
    nothing_stored(client)


@pytest.mark.parametrize("content_type", ["application/json", "application/fhir+json; charset=utf-8"])
def test_plain_json_content_types_are_accepted(
    client: TestClient, referral: dict[str, Any], content_type: str
) -> None:
    r = client.post("/", content=json.dumps(referral), headers={"Content-Type": content_type})
    assert r.status_code == 200, r.text
    # The same intake as with application/fhir+json: its response Bundle, with the decision on the example.
    out = r.json()
    assert r.headers["content-type"].startswith("application/fhir+json")
    assert (out["resourceType"], out["type"]) == ("Bundle", "transaction-response")
    (guidance,) = [e["resource"] for e in out["entry"] if e["resource"]["resourceType"] == "GuidanceResponse"]
    assert track_of(guidance) == "voorzorg"


@pytest.mark.parametrize("path", ["/", "/$check-eligibility"])
def test_accept_fhir_xml_is_406(client: TestClient, referral: dict[str, Any], path: str) -> None:
    outcome_of(post(client, referral, path, Accept="application/fhir+xml"), 406)
    nothing_stored(client)


@pytest.mark.parametrize("path", ["/", "/$check-eligibility"])
@pytest.mark.parametrize("fmt", ["xml", "application/fhir+xml", "ttl"])
def test_format_xml_is_406(client: TestClient, referral: dict[str, Any], path: str, fmt: str) -> None:
    out = outcome_of(post(client, referral, f"{path}?_format={fmt}"), 406)
    assert "_format" in expressions(out)
    nothing_stored(client)


def test_format_json_is_fine(client: TestClient, referral: dict[str, Any]) -> None:
    r = post(client, referral, "/$check-eligibility?_format=json")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/fhir+json")
    assert r.json()["resourceType"] == "Parameters"
    assert params(r.json())["track"][0]["code"] == "voorzorg"


# --- $check-eligibility -------------------------------------------------------------------------


def test_check_eligibility_answers_a_decision_and_stores_nothing(
    client: TestClient, referral: dict[str, Any]
) -> None:
    r = post(client, referral, "/$check-eligibility")
    assert r.status_code == 200, r.text
    assert r.json()["resourceType"] == "Parameters"
    p = params(r.json())
    assert p["track"][0]["code"] == "voorzorg"
    assert p["consultRequired"] == [False]
    assert len(p["explanation"]) == 1
    nothing_stored(client)
    for rtype in ("Organization", "Consent"):
        assert client.get(f"/{rtype}").json()["total"] == 0


def test_check_eligibility_takes_parameters_with_the_referral(
    client: TestClient, referral: dict[str, Any]
) -> None:
    direct = post(client, referral, "/$check-eligibility").json()
    wrapped = {"resourceType": "Parameters", "parameter": [{"name": "referral", "resource": referral}]}
    r = post(client, wrapped, "/$check-eligibility")
    assert r.status_code == 200, r.text
    assert r.json() == direct
    nothing_stored(client)


def test_check_eligibility_in_parameters_reports_contract_errors(
    client: TestClient, referral: dict[str, Any]
) -> None:
    del resource(referral, SR)["authoredOn"]
    wrapped = {"resourceType": "Parameters", "parameter": [{"name": "referral", "resource": referral}]}
    out = outcome_of(post(client, wrapped, "/$check-eligibility"), 422)
    assert any(e.endswith("Bundle.entry[2].resource.authoredOn") for e in expressions(out))


@pytest.mark.parametrize(
    "parameters",
    [
        {"resourceType": "Parameters"},
        {"resourceType": "Parameters", "parameter": [{"name": "bundle", "valueString": "x"}]},
        {"resourceType": "Parameters", "parameter": [{"name": "referral", "valueString": "x"}]},
    ],
    ids=["empty", "wrong-name", "not-a-resource"],
)
def test_check_eligibility_parameters_without_a_referral_is_4xx(
    client: TestClient, parameters: dict[str, Any]
) -> None:
    r = post(client, parameters, "/$check-eligibility")
    assert 400 <= r.status_code < 500, r.text
    assert r.json()["resourceType"] == "OperationOutcome"


def test_a_patient_posted_to_check_eligibility_is_4xx_not_a_decision(
    client: TestClient, referral: dict[str, Any]
) -> None:
    r = post(client, resource(referral, PATIENT), "/$check-eligibility")
    assert r.status_code == 400, r.text
    assert "resourceType" in expressions(r.json())
