"""The birth outcome (issue #22, domain page §7), on SQLite and PostgreSQL: the birth report — the
delivery-date Observation from the obstetric system or the nurse — carries the gestational age at birth
and per child the birth weight and whether it was born alive. It re-times the plan as before, moves her
programme's phases to the actual birth, and is what monitoring counts; implausible values are 422 naming
the component, and nothing is stored.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.path_helpers import OWN_ITEM, UCUM, intake, intake_visit, parts, phases, post_json, versions

LOINC = "http://loinc.org"


def _report(
    mother: str, born: str, ga_days: int | None = 266, *weights_alive: tuple[int, bool]
) -> dict[str, Any]:
    components: list[dict[str, Any]] = []
    if ga_days is not None:
        components.append(
            {
                "code": {"coding": [{"system": LOINC, "code": "76516-4"}]},
                "valueQuantity": {"value": ga_days, "unit": "d", "system": UCUM, "code": "d"},
            }
        )
    for grams, alive in weights_alive or ((3150, True),):
        components.append(
            {
                "code": {"coding": [{"system": LOINC, "code": "8339-4"}]},
                "valueQuantity": {"value": grams, "unit": "g", "system": UCUM, "code": "g"},
            }
        )
        components.append(
            {"code": {"coding": [{"system": OWN_ITEM, "code": "live-born"}]}, "valueBoolean": alive}
        )
    return {
        "resourceType": "Observation",
        "meta": {"profile": ["https://fhir.voorzorg.nl/StructureDefinition/voorzorg-delivery-date"]},
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "93857-1"}]},
        "subject": {"reference": mother},
        "valueDateTime": born,
        "component": components,
    }


def _enrolled(
    client: TestClient, referral: dict[str, Any]
) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    out = intake(client, referral)
    patient = f"Patient/{out['Patient']['id']}"
    r = post_json(
        client,
        f"/ServiceRequest/{out['ServiceRequest']['id']}/$intake-visit",
        intake_visit(patient, "2026-03-09", takes_part=True),
    )
    return out, parts(r.json())["programme"][0]


def test_the_birth_report_with_its_outcome_re_times_the_plan_and_the_phases(
    client: TestClient, referral: dict[str, Any]
) -> None:
    out, programme = _enrolled(client, referral)
    mother = f"Patient/{out['Patient']['id']}"
    # born three weeks early, 37+0 weeks (259 days), 2,480 g, alive
    r = post_json(client, "/Observation", _report(mother, "2026-08-10", 259, (2480, True)))
    assert r.status_code == 201, r.text
    report = r.json()
    assert [c["code"]["coding"][0]["code"] for c in report["component"]] == ["76516-4", "8339-4", "live-born"]
    plan = client.get(f"/CarePlan/{out['CarePlan']['id']}").json()
    assert plan["period"]["end"] == "2028-08-10"  # the plan moved with the birth, as before
    assert {"reference": f"Observation/{report['id']}"} in plan["supportingInfo"]
    moved = client.get(f"/EpisodeOfCare/{programme['id']}").json()
    assert phases(moved) == [
        ("pregnancy", "2026-03-09", "2026-08-09"),
        ("infancy", "2026-08-10", "2027-08-09"),
        ("toddler", "2027-08-10", "2028-08-09"),
    ]
    found = client.get("/Observation", params={"patient": mother, "code": f"{LOINC}|93857-1"}).json()
    assert found["total"] == 1  # what monitoring counts: one birth report per pregnancy


def test_twins_carry_a_weight_and_a_live_born_each(client: TestClient, referral: dict[str, Any]) -> None:
    out, _ = _enrolled(client, referral)
    mother = f"Patient/{out['Patient']['id']}"
    r = post_json(client, "/Observation", _report(mother, "2026-07-20", 238, (2100, True), (1950, True)))
    assert r.status_code == 201, r.text
    weights = [
        c["valueQuantity"]["value"]
        for c in r.json()["component"]
        if c["code"]["coding"][0]["code"] == "8339-4"
    ]
    assert weights == [2100, 1950]


@pytest.mark.parametrize(
    ("ga", "weights", "expression"),
    [
        (60, ((3150, True),), "Observation.component[0].valueQuantity"),
        (266, ((9000, True),), "Observation.component[1].valueQuantity"),
        (266, ((3000, True), (90, False)), "Observation.component[3].valueQuantity"),
    ],
    ids=["ga-60-days", "weight-9-kg", "second-twin-90-g"],
)
def test_an_implausible_outcome_is_422_naming_the_component_and_stores_nothing(
    client: TestClient,
    referral: dict[str, Any],
    ga: int,
    weights: tuple[tuple[int, bool], ...],
    expression: str,
) -> None:
    out, programme = _enrolled(client, referral)
    mother = f"Patient/{out['Patient']['id']}"
    seen = versions(client, f"CarePlan/{out['CarePlan']['id']}", f"EpisodeOfCare/{programme['id']}")
    r = post_json(client, "/Observation", _report(mother, "2026-08-10", ga, *weights))
    assert r.status_code == 422, r.text
    assert [x for i in r.json()["issue"] for x in i.get("expression", [])] == [expression]
    assert versions(client, f"CarePlan/{out['CarePlan']['id']}", f"EpisodeOfCare/{programme['id']}") == seen


def test_a_weight_in_an_unknown_unit_breaks_the_profile(client: TestClient, referral: dict[str, Any]) -> None:
    out, _ = _enrolled(client, referral)
    report = _report(f"Patient/{out['Patient']['id']}", "2026-08-10")
    report["component"][1]["valueQuantity"]["code"] = "[lb_av]"
    r = post_json(client, "/Observation", report)
    assert r.status_code == 422, r.text
    assert any("component" in x for i in r.json()["issue"] for x in i.get("expression", []))
