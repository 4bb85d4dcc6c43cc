"""Intake through HTTP: the example referral and its variants, as an integration engineer sees them."""

from __future__ import annotations

import copy
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
    FF,
    PANEL,
    PARITY,
    PATH_STATUS,
    PATIENT,
    REASON,
    SR,
    TASK,
    TRACK,
    URN,
    VV,
    drop,
    entry,
    one,
    params,
    post,
    resource,
    set_bool,
    task_track,
    track_of,
)

LOINC = "http://loinc.org"


def intake(client: TestClient, bundle: dict[str, Any]) -> dict[str, Any]:
    r = post(client, bundle)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/fhir+json")
    out: dict[str, Any] = r.json()
    assert out["resourceType"] == "Bundle" and out["type"] == "transaction-response"
    return out


def decision(client: TestClient, bundle: dict[str, Any]) -> dict[str, list[Any]]:
    r = post(client, bundle, "/$check-eligibility")
    assert r.status_code == 200, r.text
    return params(r.json())


def reason_codes(task: dict[str, Any]) -> set[str]:
    return {c["code"] for c in task.get("statusReason", {}).get("coding", []) if c["system"] == REASON}


def standalone(bundle: dict[str, Any]) -> dict[str, Any]:
    """The example with EDD and parity as standalone Observations: no pregnancy panel."""
    out = copy.deepcopy(bundle)
    drop(out, PANEL)
    sr = resource(out, SR)
    sr["supportingInfo"] += [{"reference": URN + EDD}, {"reference": URN + PARITY}]
    return out


def contained_in_panel(bundle: dict[str, Any]) -> dict[str, Any]:
    """The example with EDD and parity contained in the pregnancy panel (hasMember #edd, #parity)."""
    out = copy.deepcopy(bundle)
    edd, parity = copy.deepcopy(resource(out, EDD)), copy.deepcopy(resource(out, PARITY))
    edd["id"], parity["id"] = "edd", "parity"
    out["entry"] = [e for e in out["entry"] if e["fullUrl"] not in (URN + EDD, URN + PARITY)]
    panel = resource(out, PANEL)
    panel["contained"] = [edd, parity]
    panel["hasMember"] = [{"reference": "#edd"}, {"reference": "#parity"}]
    return out


def loinc_codes(bundle: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(bundle)
    resource(out, EDD)["code"] = {"coding": [{"system": LOINC, "code": "11778-8"}]}
    resource(out, PARITY)["code"] = {"coding": [{"system": LOINC, "code": "11977-6"}]}
    return out


# --- the example ----------------------------------------------------------------------------------


def test_example_gives_one_response_entry_per_request_entry_in_order_then_the_decision(
    client: TestClient, referral: dict[str, Any]
) -> None:
    out = intake(client, referral)
    sent = [e["resource"]["resourceType"] for e in referral["entry"]]
    got = [e["resource"]["resourceType"] for e in out["entry"]]
    # The sender's Task sits at its own place; then the decision and, as she is accepted, her care plan.
    assert got == [*sent, "GuidanceResponse", "CarePlan"]
    for e in out["entry"]:
        res = e["resource"]
        assert res.get("id"), e
        assert e["fullUrl"].endswith(f"{res['resourceType']}/{res['id']}")
        assert e["response"]["status"].startswith("201")
        assert e["response"]["etag"] == 'W/"1"'
        assert e["response"]["location"] == f"{res['resourceType']}/{res['id']}/_history/1"
        assert res["meta"]["versionId"] == "1"


def test_example_references_point_at_the_stored_resources(
    client: TestClient, referral: dict[str, Any]
) -> None:
    out = intake(client, referral)
    patient, sr = one(out, "Patient"), one(out, "ServiceRequest")
    org = one(out, "Organization")
    task, gr = one(out, "Task"), one(out, "GuidanceResponse")
    assert sr["subject"]["reference"] == f"Patient/{patient['id']}"
    assert sr["requester"]["reference"] == f"Organization/{org['id']}"
    assert task["focus"]["reference"] == f"ServiceRequest/{sr['id']}"
    assert task["for"]["reference"] == f"Patient/{patient['id']}"
    assert gr["subject"]["reference"] == f"Patient/{patient['id']}"
    stored_ids = {f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in out["entry"]}
    for info in sr["supportingInfo"]:
        assert info["reference"] in stored_ids
    panel = next(
        o
        for o in out["entry"]
        if o["resource"].get("code", {}).get("coding", [{}])[0].get("code") == "118185001"
    )["resource"]
    for member in panel["hasMember"]:
        assert member["reference"] in stored_ids
    # no urn:uuid survives in what was stored
    assert "urn:uuid" not in str([e["resource"] for e in out["entry"]])


def test_every_reference_in_the_stored_referral_resolves(
    client: TestClient, referral: dict[str, Any]
) -> None:
    out = intake(client, referral)
    sr = one(out, "ServiceRequest")
    task = one(out, "Task")
    refs = [i["reference"] for i in sr["supportingInfo"]] + [
        task["focus"]["reference"],
        task["for"]["reference"],
    ]
    assert f"ServiceRequest/{sr['id']}" in refs
    for ref in refs:
        assert client.get(f"/{ref}").status_code == 200, ref


def test_example_is_accepted_for_voorzorg_with_the_decision_as_guidance_response(
    client: TestClient, referral: dict[str, Any]
) -> None:
    out = intake(client, referral)
    task, gr = one(out, "Task"), one(out, "GuidanceResponse")
    assert task["status"] == "accepted"
    assert "statusReason" not in task
    status_coding = task["businessStatus"]["coding"][0]  # where she is: the intake visit is next
    assert (status_coding["system"], status_coding["code"]) == (PATH_STATUS, "intake-planned")
    outputs = {o["type"]["text"]: o for o in task["output"]}
    assert outputs["track"]["valueCodeableConcept"]["coding"][0]["code"] == "voorzorg"
    assert outputs["eligibility decision"]["valueReference"]["reference"] == f"GuidanceResponse/{gr['id']}"

    assert gr["status"] == "success"
    assert gr["outputParameters"]["reference"] == "#decision"
    contained = gr["contained"][0]
    assert contained["resourceType"] == "Parameters" and contained["id"] == "decision"
    p = params(contained)
    assert p["track"][0]["code"] == "voorzorg" and p["track"][0]["system"] == TRACK
    assert p["consultRequired"] == [False]
    assert p["evidence"] == ["proven-effective"]
    assert p["gestationalAgeDays"] == [98]  # 280 - (2026-08-31 - 2026-03-02)
    assert p["explanation"][0]
    assert gr["requestIdentifier"] == {
        "system": "urn:oid:2.16.528.1.1007.3.3.1234567.1",
        "value": "VZ-2026-0042",
    }
    # the stored Task and GuidanceResponse are what the response says
    assert client.get(f"/Task/{task['id']}").json()["status"] == "accepted"
    assert track_of(client.get(f"/GuidanceResponse/{gr['id']}").json()) == "voorzorg"


def test_without_a_task_in_the_bundle_the_adapter_makes_one(
    client: TestClient, referral: dict[str, Any]
) -> None:
    drop(referral, TASK)
    out = intake(client, referral)
    sent = [e["resource"]["resourceType"] for e in referral["entry"]]
    got = [e["resource"]["resourceType"] for e in out["entry"]]
    assert got == [*sent, "Task", "GuidanceResponse", "CarePlan"]
    task, sr, patient = one(out, "Task"), one(out, "ServiceRequest"), one(out, "Patient")
    assert task["status"] == "accepted"
    assert task["intent"] == "order"
    assert task["focus"]["reference"] == f"ServiceRequest/{sr['id']}"
    assert task["for"]["reference"] == f"Patient/{patient['id']}"
    assert task["authoredOn"] == "2026-03-02"
    assert out["entry"][-3]["response"]["status"].startswith("201")
    assert client.get(f"/Task/{task['id']}").status_code == 200


# --- variants that do not accept ------------------------------------------------------------------


def test_forced_framework_puts_the_task_on_hold_for_a_consult(
    client: TestClient, referral: dict[str, Any]
) -> None:
    set_bool(referral, FF, True)
    out = intake(client, referral)
    task, gr = one(out, "Task"), one(out, "GuidanceResponse")
    assert task["status"] == "on-hold"
    assert "forced-framework" in reason_codes(task)
    assert task["statusReason"]["text"]
    assert track_of(gr) == "consult"
    assert gr["status"] == "success"
    assert params(gr["contained"][0])["consultRequired"] == [True]


def test_consent_rejected_is_a_consult_too(client: TestClient, referral: dict[str, Any]) -> None:
    resource(referral, CONSENT)["status"] = "rejected"
    out = intake(client, referral)
    assert one(out, "Task")["status"] == "on-hold"
    assert "forced-framework" in reason_codes(one(out, "Task"))


def test_missing_parity_is_incomplete_data_required_and_on_hold(
    client: TestClient, referral: dict[str, Any]
) -> None:
    drop(referral, PARITY)
    out = intake(client, referral)
    task, gr = one(out, "Task"), one(out, "GuidanceResponse")
    assert gr["status"] == "data-required"
    assert track_of(gr) == "incomplete"
    missing = params(gr["contained"][0])["missing"]
    assert len(missing) == 1 and missing[0].startswith("parity")
    assert len(gr["dataRequirement"]) == 1
    assert task["status"] == "on-hold"
    assert task["statusReason"]["text"]
    assert "parity" in task["statusReason"]["text"]
    assert task["businessStatus"]["coding"][0]["code"] == "received"  # no decision yet


def test_not_very_vulnerable_rejects_the_task(client: TestClient, referral: dict[str, Any]) -> None:
    set_bool(referral, VV, False)
    out = intake(client, referral)
    task, gr = one(out, "Task"), one(out, "GuidanceResponse")
    assert task["status"] == "rejected"
    assert reason_codes(task) == {"not-very-vulnerable"}
    assert task["statusReason"]["text"]
    assert track_of(gr) == "not-eligible"
    assert gr["status"] == "success"


def _late_start(bundle: dict[str, Any]) -> dict[str, Any]:
    """28+0 weeks at the referral date: EDD 84 days after 2026-03-02."""
    resource(bundle, EDD)["valueDateTime"] = "2026-05-25"
    return bundle


def test_late_start_is_accepted_where_the_nurses_are_trained(
    client: TestClient, referral: dict[str, Any]
) -> None:
    out = intake(client, _late_start(referral))
    task, gr = one(out, "Task"), one(out, "GuidanceResponse")
    assert track_of(gr) == "late-start"
    assert params(gr["contained"][0])["gestationalAgeDays"] == [196]
    assert task["status"] == "accepted"


@pytest.fixture
def untrained_client(store: Store, tmp_path: Path, auth_headers: dict[str, str]) -> TestClient:
    settings = Settings(data_dir=tmp_path, base_url="http://testserver", trained_modules=frozenset())
    return TestClient(create_app(settings, store), headers=auth_headers)


def test_nurse_not_trained_keeps_the_track_and_holds_for_a_consult(
    untrained_client: TestClient, referral: dict[str, Any]
) -> None:
    out = intake(untrained_client, _late_start(referral))
    task, gr = one(out, "Task"), one(out, "GuidanceResponse")
    p = params(gr["contained"][0])
    assert p["track"][0]["code"] == "late-start"
    assert "nurse-not-trained" in {c["code"] for c in p["reason"]}
    assert p["consultRequired"] == [True]
    assert task["status"] == "on-hold"
    assert "nurse-not-trained" in reason_codes(task)
    assert task["businessStatus"]["coding"][0]["code"] == "consult-pending"
    assert task_track(task) == "late-start"


def test_nurse_not_trained_does_not_touch_regular_voorzorg(
    untrained_client: TestClient, referral: dict[str, Any]
) -> None:
    out = intake(untrained_client, referral)
    assert one(out, "Task")["status"] == "accepted"


# --- code systems and shapes ----------------------------------------------------------------------


def _parity_1(bundle: dict[str, Any]) -> dict[str, Any]:
    resource(bundle, PARITY)["valueInteger"] = 1
    return bundle


@pytest.mark.parametrize("variant", [loinc_codes, standalone, contained_in_panel], ids=lambda f: f.__name__)
@pytest.mark.parametrize(
    "base", [lambda b: b, _late_start, _parity_1], ids=["voorzorg", "late-start", "parity-1"]
)
def test_code_systems_and_shapes_give_the_same_decision(
    client: TestClient, referral: dict[str, Any], variant: Any, base: Any
) -> None:
    base(referral)
    expected = decision(client, referral)
    changed = variant(referral)
    assert decision(client, changed) == expected
    out = intake(client, changed)
    gr = one(out, "GuidanceResponse")
    assert params(gr["contained"][0]) == expected
    assert task_track(one(out, "Task")) == expected["track"][0]["code"]


def test_the_three_bases_differ(client: TestClient, referral: dict[str, Any]) -> None:
    """The shape test above compares like with like; make sure its three cases decide differently."""
    tracks = [
        decision(client, f(copy.deepcopy(referral)))["track"][0]["code"]
        for f in (lambda b: b, _late_start, _parity_1)
    ]
    assert tracks == ["voorzorg", "late-start", "consult"]


def test_edd_read_from_every_shape(client: TestClient, referral: dict[str, Any]) -> None:
    for variant in (loinc_codes, standalone, contained_in_panel):
        b = variant(_late_start(copy.deepcopy(referral)))
        p = decision(client, b)
        assert p["gestationalAgeDays"] == [196], variant.__name__
        assert p["track"][0]["code"] == "late-start", variant.__name__


def test_contained_members_are_stored_inside_the_panel(client: TestClient, referral: dict[str, Any]) -> None:
    out = intake(client, contained_in_panel(referral))
    obs = [e["resource"] for e in out["entry"] if e["resource"]["resourceType"] == "Observation"]
    panel = next(o for o in obs if o["code"]["coding"][0]["code"] == "118185001")
    assert [c["id"] for c in panel["contained"]] == ["edd", "parity"]
    assert panel["hasMember"] == [{"reference": "#edd"}, {"reference": "#parity"}]
    patient = one(out, "Patient")
    assert panel["contained"][0]["subject"]["reference"] == f"Patient/{patient['id']}"


def test_edd_wins_over_pregnancy_duration(client: TestClient, referral: dict[str, Any]) -> None:
    """EDD says 14 weeks (VoorZorg); a duration of 30 weeks (Late Start) must be ignored."""
    duration = copy.deepcopy(entry(referral, EDD))
    duration["fullUrl"] = URN + "12"
    duration["resource"]["code"] = {"coding": [{"system": "http://snomed.info/sct", "code": "57036006"}]}
    del duration["resource"]["valueDateTime"]
    duration["resource"]["valueQuantity"] = {
        "value": 30,
        "unit": "wk",
        "system": "http://unitsofmeasure.org",
        "code": "wk",
    }
    referral["entry"].insert(6, duration)
    resource(referral, PANEL)["hasMember"].append({"reference": URN + "12"})
    p = decision(client, referral)
    assert p["gestationalAgeDays"] == [98]
    assert p["track"][0]["code"] == "voorzorg"
    out = intake(client, referral)
    assert track_of(one(out, "GuidanceResponse")) == "voorzorg"
    assert one(out, "Task")["status"] == "accepted"


def test_duration_alone_is_projected_to_the_referral_date(
    client: TestClient, referral: dict[str, Any]
) -> None:
    """Duration 20 wk measured 2026-02-02, referral 2026-03-02: GA 140 + 28 = 168 days."""
    edd = resource(referral, EDD)
    edd["code"] = {"coding": [{"system": LOINC, "code": "18185-9"}]}
    del edd["valueDateTime"]
    edd["valueQuantity"] = {"value": 20, "unit": "wk", "system": "http://unitsofmeasure.org", "code": "wk"}
    edd["effectiveDateTime"] = "2026-02-02"
    p = decision(client, referral)
    assert p["gestationalAgeDays"] == [168]
    assert p["track"][0]["code"] == "voorzorg"


def test_the_patient_is_the_referral_subject(client: TestClient, referral: dict[str, Any]) -> None:
    out = intake(client, referral)
    assert resource(referral, PATIENT)["birthDate"] == one(out, "Patient")["birthDate"]
