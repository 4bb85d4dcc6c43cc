"""Sending a referral again: the same client, referral and Task, updated in place, never duplicated."""

from __future__ import annotations

import copy
import json
from typing import Any

from fastapi.testclient import TestClient

from tests.api.helpers import (
    BSN,
    BSN_SYSTEM,
    FF,
    PARITY,
    PATIENT,
    SPP,
    SR,
    SR_SYSTEM,
    SR_VALUE,
    drop,
    of_type,
    one,
    post,
    resource,
    set_bool,
    total,
)


def intake(client: TestClient, bundle: dict[str, Any]) -> dict[str, Any]:
    r = post(client, bundle)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def ids(out: dict[str, Any]) -> list[str]:
    return [f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in out["entry"]]


def counts(client: TestClient) -> dict[str, int]:
    """How many of each the referral has (a VoorZorg Consult request, made for a consult decision, is
    a Task and a ServiceRequest of its own: not counted here; tests/api/test_consult.py counts those)."""
    consult_task = total(
        client,
        "/Task?code=https://fhir.voorzorg.nl/CodeSystem/voorzorg-referral-item|voorzorg-consult-request",
    )
    consult_request = total(client, "/ServiceRequest?category=http://snomed.info/sct|11429006")
    return {
        "Patient": total(client, f"/Patient?identifier={BSN_SYSTEM}|{BSN}"),
        "ServiceRequest": total(client, "/ServiceRequest") - consult_request,
        "Task": total(client, "/Task") - consult_task,
        "GuidanceResponse": total(client, "/GuidanceResponse"),
        "Observation": total(client, "/Observation"),
    }


def test_identical_resend_changes_nothing(client: TestClient, referral: dict[str, Any]) -> None:
    first = intake(client, referral)
    second = intake(client, copy.deepcopy(referral))
    assert ids(second) == ids(first)
    assert counts(client) == {
        "Patient": 1,
        "ServiceRequest": 1,
        "Task": 1,
        "GuidanceResponse": 1,
        "Observation": 6,
    }
    for e1, e2 in zip(first["entry"], second["entry"], strict=True):
        assert e2["response"]["etag"] == 'W/"1"', e2["fullUrl"]
        assert e2["response"]["status"].startswith("200"), e2["fullUrl"]
        assert e2["resource"]["meta"] == e1["resource"]["meta"]
    task = one(second, "Task")
    assert client.get(f"/Task/{task['id']}/_history").json()["total"] == 1
    gr = one(second, "GuidanceResponse")
    assert client.get(f"/GuidanceResponse/{gr['id']}").headers["etag"] == 'W/"1"'


def test_identical_resend_without_a_task_keeps_the_adapters_task(
    client: TestClient, referral: dict[str, Any]
) -> None:
    referral["entry"] = [e for e in referral["entry"] if e["resource"]["resourceType"] != "Task"]
    resource(referral, SR)["supportingInfo"] = resource(referral, SR)["supportingInfo"][:-1]
    first = intake(client, referral)
    second = intake(client, copy.deepcopy(referral))
    assert one(second, "Task")["id"] == one(first, "Task")["id"]
    assert total(client, "/Task") == 1
    assert client.get(f"/Task/{one(first, 'Task')['id']}").headers["etag"] == 'W/"1"'


def test_a_changed_fact_updates_the_same_task_to_a_new_version(
    client: TestClient, referral: dict[str, Any]
) -> None:
    first = intake(client, referral)
    task_id = one(first, "Task")["id"]
    assert one(first, "Task")["status"] == "accepted"

    set_bool(referral, FF, True)
    second = intake(client, referral)
    assert ids(second) == ids(first)
    task = one(second, "Task")
    assert task["id"] == task_id
    assert task["status"] == "on-hold"
    assert task["meta"]["versionId"] == "2"

    read = client.get(f"/Task/{task_id}")
    assert read.headers["etag"] == 'W/"2"'
    assert read.json()["status"] == "on-hold"
    history = client.get(f"/Task/{task_id}/_history").json()
    assert history["total"] == 2
    statuses = {e["resource"]["meta"]["versionId"]: e["resource"]["status"] for e in history["entry"]}
    assert statuses == {"1": "accepted", "2": "on-hold"}
    assert client.get(f"/Task/{task_id}/_history/1").json()["status"] == "accepted"

    # the changed Observation moved to version 2; the unchanged ones stayed at 1
    by_id = {e["resource"]["id"]: e for e in second["entry"]}
    ff_id = next(
        e["resource"]["id"]
        for e in second["entry"]
        if e["resource"].get("code", {}).get("coding", [{}])[0].get("code") == "forced-framework"
    )
    assert by_id[ff_id]["response"]["etag"] == 'W/"2"'
    patient = one(second, "Patient")
    assert by_id[patient["id"]]["response"]["etag"] == 'W/"1"'
    gr = one(second, "GuidanceResponse")
    assert gr["meta"]["versionId"] == "2"
    assert counts(client)["Task"] == 1 and counts(client)["GuidanceResponse"] == 1


def test_changing_back_moves_the_task_again(client: TestClient, referral: dict[str, Any]) -> None:
    intake(client, referral)
    changed = copy.deepcopy(referral)
    set_bool(changed, FF, True)
    intake(client, changed)
    third = intake(client, referral)
    task = one(third, "Task")
    assert task["status"] == "accepted"
    assert "statusReason" not in task
    assert task["meta"]["versionId"] == "3"


def test_a_resend_that_drops_a_standalone_observation_deletes_it(
    client: TestClient, referral: dict[str, Any]
) -> None:
    first = intake(client, referral)
    spp = next(
        e["resource"]
        for e in first["entry"]
        if e["resource"].get("code", {}).get("coding", [{}])[0].get("code") == "serious-parenting-problems"
    )
    assert client.get(f"/Observation/{spp['id']}").status_code == 200

    drop(referral, SPP)
    second = intake(client, referral)
    gone = client.get(f"/Observation/{spp['id']}")
    assert gone.status_code == 410
    assert gone.json()["resourceType"] == "OperationOutcome"
    assert total(client, "/Observation") == 5
    assert total(client, f"/Observation?_id={spp['id']}") == 0
    history = client.get(f"/Observation/{spp['id']}/_history").json()
    assert history["total"] == 2
    assert {e["request"]["method"] for e in history["entry"]} == {"POST", "DELETE"}
    assert spp["id"] not in {r["id"] for r in of_type(second, "Observation")}
    # the ServiceRequest no longer names it
    sr = client.get(f"/ServiceRequest/{one(second, 'ServiceRequest')['id']}").json()
    assert f"Observation/{spp['id']}" not in json.dumps(sr)


def test_a_resend_that_drops_a_panel_member_deletes_it(client: TestClient, referral: dict[str, Any]) -> None:
    first = intake(client, referral)
    parity = next(
        e["resource"]
        for e in first["entry"]
        if e["resource"].get("code", {}).get("coding", [{}])[0].get("code") == "364325004"
    )

    drop(referral, PARITY)
    second = intake(client, referral)
    assert one(second, "GuidanceResponse")["status"] == "data-required"
    assert client.get(f"/Observation/{parity['id']}").status_code == 410
    assert total(client, "/Observation") == 5


def test_a_second_referral_for_the_same_bsn_shares_the_patient(
    client: TestClient, referral: dict[str, Any]
) -> None:
    first = intake(client, referral)
    other = copy.deepcopy(referral)
    resource(other, SR)["identifier"][0]["value"] = "VZ-2026-0043"
    resource(other, SR)["authoredOn"] = "2026-03-09"
    second = intake(client, other)
    assert one(second, "Patient")["id"] == one(first, "Patient")["id"]
    assert one(second, "ServiceRequest")["id"] != one(first, "ServiceRequest")["id"]
    assert one(second, "Task")["id"] != one(first, "Task")["id"]
    assert one(second, "GuidanceResponse")["id"] != one(first, "GuidanceResponse")["id"]
    assert total(client, f"/Patient?identifier={BSN_SYSTEM}|{BSN}") == 1
    assert total(client, "/Patient") == 1
    assert total(client, "/ServiceRequest") == 2
    assert total(client, "/Task") == 2
    assert total(client, "/GuidanceResponse") == 2
    assert total(client, "/Observation") == 12
    patient_id = one(first, "Patient")["id"]
    assert total(client, f"/ServiceRequest?patient=Patient/{patient_id}") == 2
    # the first referral is untouched by the second
    assert client.get(f"/ServiceRequest/{one(first, 'ServiceRequest')['id']}").headers["etag"] == 'W/"1"'
    assert total(client, f"/ServiceRequest?identifier={SR_SYSTEM}|{SR_VALUE}") == 1


def test_the_same_referral_number_from_another_system_is_another_referral(
    client: TestClient, referral: dict[str, Any]
) -> None:
    first = intake(client, referral)
    other = copy.deepcopy(referral)
    resource(other, SR)["identifier"][0]["system"] = "urn:oid:2.16.528.1.1007.3.3.7654321.1"
    second = intake(client, other)
    assert one(second, "ServiceRequest")["id"] != one(first, "ServiceRequest")["id"]
    assert total(client, "/ServiceRequest") == 2


def test_a_changed_patient_is_updated_not_duplicated(client: TestClient, referral: dict[str, Any]) -> None:
    first = intake(client, referral)
    resource(referral, PATIENT)["name"] = [{"family": "Jansen-de Vries", "given": ["Sanne"]}]
    second = intake(client, referral)
    patient = one(second, "Patient")
    assert patient["id"] == one(first, "Patient")["id"]
    assert patient["meta"]["versionId"] == "2"
    assert total(client, "/Patient") == 1
    assert client.get(f"/Patient/{patient['id']}").json()["name"][0]["family"] == "Jansen-de Vries"


def test_bsn_with_eight_digits_matches_the_same_patient(client: TestClient, referral: dict[str, Any]) -> None:
    """The elfproef pads 8 digits with a leading 0: 012345672 and 12345672 are one BSN."""
    resource(referral, PATIENT)["identifier"][0]["value"] = "012345672"
    first = intake(client, referral)
    other = copy.deepcopy(referral)
    resource(other, PATIENT)["identifier"][0]["value"] = "12345672"
    resource(other, SR)["identifier"][0]["value"] = "VZ-2026-0099"
    second = intake(client, other)
    assert one(second, "Patient")["id"] == one(first, "Patient")["id"]


def test_a_resend_does_not_undo_the_recipients_progress(client: TestClient, referral: dict[str, Any]) -> None:
    first = intake(client, referral)
    task = one(first, "Task")
    task["status"] = "in-progress"
    r = client.put(
        f"/Task/{task['id']}",
        content=json.dumps(task),
        headers={"Content-Type": "application/fhir+json", "If-Match": 'W/"1"'},
    )
    assert r.status_code == 200, r.text
    intake(client, referral)
    assert client.get(f"/Task/{task['id']}").json()["status"] == "in-progress"
