"""NEN 7513: every access to client data leaves an AuditEvent naming the patient (entity role 1), the
client, the organisation on whose behalf, the network address and the outcome; the privacy officer
finds them per patient, and nobody else reads the log."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from adapter.config import Settings
from adapter.store.engine import Store
from tests.conftest import FHIR_JSON_HEADERS, JGZ_ORGANIZATION
from tests.security.helpers import (
    ORG_A,
    REFUSED,
    SUCCESS,
    address,
    client_as,
    client_id,
    entities,
    events,
    interaction,
    last_at,
    obstetric,
    of_type,
    on_behalf_of,
    patients,
    post_referral,
    privacy_officer,
)


def valid_bsn(prefix: str) -> str:
    """A BSN that passes the 11-test: eight digits of `prefix`, and the check digit that fits."""
    digits = [int(c) for c in prefix]
    for last in range(10):
        if (sum(d * w for d, w in zip(digits, range(9, 1, -1), strict=True)) - last) % 11 == 0:
            return prefix + str(last)
    raise ValueError(prefix)


def second_client(referral: dict[str, Any]) -> dict[str, Any]:
    """Another woman, another referral of the same practice."""
    other = copy.deepcopy(referral)
    bsn = next(b for b in (valid_bsn(f"9999{n:04d}") for n in range(1000, 2000)) if b != "999911120")
    for e in other["entry"]:
        r = e["resource"]
        if r["resourceType"] == "Patient":
            r["identifier"][0]["value"] = bsn
            r["name"] = [{"family": "Bakker", "given": ["Eva"]}]
        if r["resourceType"] == "ServiceRequest":
            r["identifier"][0]["value"] = "VZ-2026-0043"
            e["request"]["ifNoneExist"] = e["request"]["ifNoneExist"].replace("0042", "0043")
    return other


@pytest.fixture
def jgz(app: FastAPI, settings: Settings) -> TestClient:
    return client_as(app, settings, client_id="jgz-dossier")


@pytest.fixture
def sent(jgz: TestClient, referral: dict[str, Any]) -> dict[str, Any]:
    r = post_referral(jgz, referral)
    assert r.status_code == 200, r.text
    return dict(r.json())


def _assert_names(event: dict[str, Any], kind: str, patient: str | None, who: str = "jgz-dossier") -> None:
    assert interaction(event) == kind, event
    assert event["outcome"] == SUCCESS, event
    assert client_id(event) == who
    assert address(event) == "testclient"
    assert on_behalf_of(event) == JGZ_ORGANIZATION
    assert event["type"]["code"] == "rest"
    assert event["recorded"]
    if patient is not None:
        assert patients(event) == [patient], event


def test_the_referral_transaction_is_audited_with_the_patient_and_what_was_written(
    store: Store, sent: dict[str, Any]
) -> None:
    event = last_at(store, "POST /")
    patient = f"Patient/{of_type(sent, 'Patient')['id']}"
    _assert_names(event, "transaction", patient)
    written = {f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in sent["entry"]}
    assert written - {patient} <= set(entities(event))
    assert event["action"] == "E"


def test_read_is_audited(jgz: TestClient, store: Store, sent: dict[str, Any]) -> None:
    pid = of_type(sent, "Patient")["id"]
    tid = of_type(sent, "Task")["id"]
    assert jgz.get(f"/Patient/{pid}").status_code == 200
    _assert_names(last_at(store, f"GET /Patient/{pid}"), "read", f"Patient/{pid}")
    assert jgz.get(f"/Task/{tid}").status_code == 200
    event = last_at(store, f"GET /Task/{tid}")
    _assert_names(event, "read", f"Patient/{pid}")
    assert f"Task/{tid}" in entities(event)
    assert event["action"] == "R"


def test_search_is_audited_with_every_patient_found_and_the_query(
    jgz: TestClient, store: Store, sent: dict[str, Any]
) -> None:
    pid = of_type(sent, "Patient")["id"]
    r = jgz.get("/Observation?subject=Patient/" + pid)
    assert r.status_code == 200 and r.json()["total"] >= 1
    event = last_at(store, "GET /Observation")
    _assert_names(event, "search-type", f"Patient/{pid}")
    query_role = "24"  # object-role Query
    queries = [e.get("description") for e in event["entity"] if e.get("role", {}).get("code") == query_role]
    assert queries and pid in queries[0]


def test_an_empty_search_is_audited_without_a_patient(jgz: TestClient, store: Store) -> None:
    assert jgz.get("/Task").json()["total"] == 0
    _assert_names(last_at(store, "GET /Task"), "search-type", None)
    assert patients(last_at(store, "GET /Task")) == []


def test_instance_history_is_audited(jgz: TestClient, store: Store, sent: dict[str, Any]) -> None:
    pid, tid = of_type(sent, "Patient")["id"], of_type(sent, "Task")["id"]
    assert jgz.get(f"/Task/{tid}/_history").status_code == 200
    _assert_names(last_at(store, f"GET /Task/{tid}/_history"), "history-instance", f"Patient/{pid}")


def test_vread_is_audited_with_the_patient(jgz: TestClient, store: Store, sent: dict[str, Any]) -> None:
    pid, tid = of_type(sent, "Patient")["id"], of_type(sent, "Task")["id"]
    assert jgz.get(f"/Task/{tid}/_history/1").status_code == 200
    event = last_at(store, f"GET /Task/{tid}/_history/1")
    assert interaction(event) == "vread"
    assert event["outcome"] == SUCCESS
    assert patients(event) == [f"Patient/{pid}"]


def test_vread_is_audited_as_a_vread(jgz: TestClient, store: Store, sent: dict[str, Any]) -> None:
    pid = of_type(sent, "Patient")["id"]
    assert jgz.get(f"/Patient/{pid}/_history/1").status_code == 200
    event = last_at(store, f"GET /Patient/{pid}/_history/1")
    assert interaction(event) == "vread"
    assert event["outcome"] == SUCCESS
    assert client_id(event) == "jgz-dossier"


def test_type_history_is_audited_with_the_patients(
    jgz: TestClient, store: Store, sent: dict[str, Any]
) -> None:
    pid = of_type(sent, "Patient")["id"]
    r = jgz.get("/Task/_history")
    assert r.status_code == 200 and r.json()["total"] >= 1
    event = last_at(store, "GET /Task/_history")
    assert interaction(event) == "history-type"
    assert patients(event) == [f"Patient/{pid}"]


def test_update_of_a_task_is_audited(jgz: TestClient, store: Store, sent: dict[str, Any]) -> None:
    pid = of_type(sent, "Patient")["id"]
    task = jgz.get(f"/Task/{of_type(sent, 'Task')['id']}").json()
    task["status"] = "in-progress" if task["status"] in ("accepted", "ready") else "cancelled"
    headers = {**FHIR_JSON_HEADERS, "If-Match": f'W/"{task["meta"]["versionId"]}"'}
    r = jgz.put(f"/Task/{task['id']}", content=json.dumps(task), headers=headers)
    assert r.status_code == 200, r.text
    event = last_at(store, f"PUT /Task/{task['id']}")
    _assert_names(event, "update", f"Patient/{pid}")
    assert event["action"] == "U"


def test_a_refused_update_is_audited_as_refused(jgz: TestClient, store: Store, sent: dict[str, Any]) -> None:
    task = jgz.get(f"/Task/{of_type(sent, 'Task')['id']}").json()
    task["status"] = "draft"  # no transition back to draft
    headers = {**FHIR_JSON_HEADERS, "If-Match": f'W/"{task["meta"]["versionId"]}"'}
    r = jgz.put(f"/Task/{task['id']}", content=json.dumps(task), headers=headers)
    assert r.status_code == 409, r.text
    event = last_at(store, f"PUT /Task/{task['id']}")
    assert interaction(event) == "update"
    assert event["outcome"] == REFUSED


def test_check_eligibility_is_audited_as_an_operation(
    jgz: TestClient, store: Store, referral: dict[str, Any]
) -> None:
    r = jgz.post("/$check-eligibility", content=json.dumps(referral), headers=FHIR_JSON_HEADERS)
    assert r.status_code == 200, r.text
    _assert_names(last_at(store, "POST /$check-eligibility"), "operation", None)


def test_the_obstetric_sender_is_named_with_its_organisation(
    app: FastAPI, settings: Settings, store: Store, referral: dict[str, Any]
) -> None:
    r = post_referral(obstetric(app, settings, ORG_A), referral)
    assert r.status_code == 200, r.text
    event = last_at(store, "POST /")
    assert client_id(event) == "obstetric-09012345"
    assert on_behalf_of(event) == ORG_A
    # the client herself (the record her referral is about), not the practice's copy of her Patient
    assert patients(event) == [of_type(r.json(), "ServiceRequest")["subject"]["reference"]]
    assert event["agent"][0]["policy"] == ["obstetric"]


def test_the_acting_user_is_named_when_the_token_says_so(
    app: FastAPI, settings: Settings, store: Store
) -> None:
    from adapter.security.tokens import IssuerKey, mint

    token = mint(
        IssuerKey(settings.issuer_key_path),
        issuer=settings.issuer,
        audience=settings.effective_audience,
        client_id="jgz-dossier",
        scope="system/*.rs",
        role="jgz",
        organization=JGZ_ORGANIZATION,
        user="nurse-0042",
    )
    assert TestClient(app).get("/Patient", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    event = last_at(store, "GET /Patient")
    users = [
        a["who"]["identifier"]["value"] for a in event["agent"] if "user" in a.get("type", {}).get("text", "")
    ]
    assert users == ["nurse-0042"]


# --- the privacy officer ----------------------------------------------------------------------------
def test_the_privacy_officer_finds_the_accesses_to_one_clients_data_only(
    app: FastAPI, settings: Settings, jgz: TestClient, store: Store, referral: dict[str, Any]
) -> None:
    first = post_referral(jgz, referral).json()
    second = post_referral(jgz, second_client(referral)).json()
    p1, p2 = (f"Patient/{of_type(b, 'Patient')['id']}" for b in (first, second))
    assert p1 != p2
    assert jgz.get(f"/{p1}").status_code == 200
    assert jgz.get(f"/{p2}").status_code == 200
    assert jgz.get(f"/{p2}/_history").status_code == 200

    officer = privacy_officer(app, settings)
    for query in (f"patient={p1}", f"patient={p1.split('/')[1]}"):
        r = officer.get(f"/AuditEvent?{query}&_count=100")
        assert r.status_code == 200, r.text
        bundle = r.json()
        found = [e["resource"] for e in bundle["entry"]]
        sites = [e["source"]["site"] for e in found]
        assert "POST /" in sites and f"GET /{p1}" in sites
        assert f"GET /{p2}" not in sites and f"GET /{p2}/_history" not in sites
        for e in found:
            assert p1 in patients(e), e
            assert p2 not in json.dumps(e)
            assert e["resourceType"] == "AuditEvent"
        expected = [e for e in events(store) if p1 in patients(e)]
        assert bundle["total"] == len(expected) == len(found)
    one = officer.get(f"/AuditEvent/{found[0]['id']}")
    assert one.status_code == 200 and one.json()["id"] == found[0]["id"]
    assert officer.get("/AuditEvent/not-an-event").status_code == 404


def test_the_privacy_officer_sees_no_clinical_data(
    app: FastAPI, settings: Settings, sent: dict[str, Any]
) -> None:
    officer = privacy_officer(app, settings)
    assert officer.get("/Patient").status_code == 403
    assert officer.get(f"/Patient/{of_type(sent, 'Patient')['id']}").status_code == 403


def test_reading_the_audit_log_is_itself_audited(app: FastAPI, settings: Settings, store: Store) -> None:
    assert privacy_officer(app, settings).get("/AuditEvent").status_code == 200
    event = last_at(store, "GET /AuditEvent")
    assert event["outcome"] == SUCCESS
    assert client_id(event) == "privacy-officer"
    assert on_behalf_of(event) is None
