"""`Measure/{id}/$evaluate-measure` over HTTP (GET and POST), on SQLite and PostgreSQL: the same report as
`evaluate_measure`, who may ask for what audience, and the bad input naming its parameter."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import FHIR_JSON_HEADERS
from tests.monitoring.conftest import World
from tests.monitoring.test_measures import counts, group, score

UPTAKE = "/Measure/voorzorg-uptake/$evaluate-measure"
YEAR = "periodStart=2026-01-01&periodEnd=2026-12-31"


def _parameters(**values: str) -> dict[str, Any]:
    kinds = {"periodStart": "valueDate", "periodEnd": "valueDate", "subject": "valueReference"}
    params = []
    for name, value in values.items():
        kind = kinds.get(name, "valueCode")
        params.append({"name": name, kind: {"reference": value} if kind == "valueReference" else value})
    return {"resourceType": "Parameters", "parameter": params}


def test_get_answers_the_measure_report(world: World) -> None:
    r = world.jgz.get(f"{UPTAKE}?{YEAR}")
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["resourceType"] == "MeasureReport" and report["type"] == "summary"
    assert counts(group(report, "uptake")) == {"initial-population": 9, "denominator": 6, "numerator": 5}
    assert score(group(report, "uptake")) == 0.8333


def test_post_takes_parameters_and_a_subject(world: World) -> None:
    body = _parameters(
        periodStart="2026-01-01",
        periodEnd="2026-12-31",
        reportType="subject-list",
        subject=world.built.patients["A"],
    )
    r = world.jgz.post(UPTAKE, content=json.dumps(body), headers=FHIR_JSON_HEADERS)
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["type"] == "subject-list" and report["subject"]["reference"] == world.built.patients["A"]
    assert counts(group(report, "uptake")) == {"initial-population": 1, "denominator": 1, "numerator": 1}
    assert all(c["resourceType"] == "List" for c in report["contained"])


def test_the_ozks_gets_external_reports_only(world: World) -> None:
    ozks = world.as_(role="ozks", scope="system/EpisodeOfCare.rs system/MeasureReport.rs", client_id="ozks")
    r = ozks.get(f"{UPTAKE}?{YEAR}")
    assert r.status_code == 200, r.text
    assert counts(group(r.json(), "uptake"))["numerator"] == "< 10"
    assert r.json()["extension"][0]["valueCode"] == "external"
    refused = ozks.get(f"{UPTAKE}?{YEAR}&audience=internal")
    assert refused.status_code == 403 and refused.json()["issue"][0]["expression"] == ["audience"]


def test_the_jgz_may_ask_for_an_external_report(world: World) -> None:
    r = world.jgz.get(f"{UPTAKE}?{YEAR}&audience=external")
    assert r.status_code == 200 and "measureScore" not in group(r.json(), "uptake")


def test_a_referrer_gets_no_reports(world: World) -> None:
    obstetric = world.as_(
        role="obstetric", organization="http://fhir.nl/fhir/NamingSystem/agb-z|09012345", client_id="de-wieg"
    )
    assert obstetric.get(f"{UPTAKE}?{YEAR}").status_code == 403


@pytest.mark.parametrize(
    ("query", "status", "expression"),
    [
        ("periodStart=2026-01-01&periodEnd=2025-12-31", 400, "periodEnd"),
        ("periodStart=2026-01-01&periodEnd=2031-06-01", 400, "periodEnd"),
        ("periodStart=2026-13-01&periodEnd=2026-12-31", 400, "periodStart"),
        ("periodStart=2026&periodEnd=2026-12-31", 400, "periodStart"),
        ("periodEnd=2026-12-31", 400, "periodStart"),
        (f"{YEAR}&reportType=individual", 400, "reportType"),
        (f"{YEAR}&audience=everyone", 400, "audience"),
        (f"{YEAR}&subject=Practitioner/1", 400, "subject"),
        (f"{YEAR}&measure=x", 400, "measure"),
    ],
    ids=["end before start", "over 5 years", "no such month", "not a date", "no start", "report type",
         "audience", "subject not a client", "unknown parameter"],
)  # fmt: skip
def test_bad_input_on_get_names_the_query_parameter(
    world: World, query: str, status: int, expression: str
) -> None:
    r = world.jgz.get(f"{UPTAKE}?{query}")
    assert r.status_code == status, r.text
    assert r.json()["resourceType"] == "OperationOutcome"
    assert r.json()["issue"][0]["expression"] == [expression]


def test_bad_input_on_post_names_the_parameter(world: World) -> None:
    body = _parameters(periodStart="2026-06-01", periodEnd="2026-01-01")
    r = world.jgz.post(UPTAKE, content=json.dumps(body), headers=FHIR_JSON_HEADERS)
    assert r.status_code == 400
    assert r.json()["issue"][0]["expression"] == ["Parameters.parameter[periodEnd]"]
    wrong = world.jgz.post(UPTAKE, content=json.dumps({"resourceType": "Patient"}), headers=FHIR_JSON_HEADERS)
    assert wrong.status_code == 400 and wrong.json()["issue"][0]["expression"] == ["resourceType"]


def test_an_unknown_measure_is_404(world: World) -> None:
    r = world.jgz.get(f"/Measure/voorzorg-nothing/$evaluate-measure?{YEAR}")
    assert r.status_code == 404 and r.json()["issue"][0]["code"] == "not-found"


def test_the_capability_statement_declares_the_operation(world: World) -> None:
    statement = world.jgz.get("/metadata").json()
    measure = next(r for r in statement["rest"][0]["resource"] if r["type"] == "Measure")
    assert {
        "name": "evaluate-measure",
        "definition": "https://fhir.voorzorg.nl/OperationDefinition/Measure-evaluate-measure",
    } in [{k: o[k] for k in ("name", "definition")} for o in measure["operation"]]
    definition = world.jgz.get("/OperationDefinition/Measure-evaluate-measure")
    assert definition.status_code == 200 and definition.json()["code"] == "evaluate-measure"
