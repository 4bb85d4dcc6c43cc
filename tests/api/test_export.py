"""Bulk Data export (issue #17 item 6): kick-off, poll, manifest, NDJSON files; `_type`, `_since`, Group
export; the pseudonymised research variant; cancel; only the requester sees the job; bad parameters;
who may export; the transfer in the audit log. On both backends, through the app as a client uses it."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response

from adapter.api.app import create_app
from adapter.config import Settings
from adapter.data import stored_types
from adapter.fhir.dates import instant, now_instant
from adapter.fhir.subject import client_of
from adapter.fhir.validator import has_errors, validate
from adapter.security.audit import AuditLog
from adapter.store.engine import Store
from tests.api.helpers import post
from tests.conftest import EXAMPLE_REFERRAL, FHIR_JSON_HEADERS
from tests.security.helpers import client_as

ASYNC = {"Prefer": "respond-async", "Accept": "application/fhir+json"}
JGZ = "http://fhir.nl/fhir/NamingSystem/ura|00000000"
RESEARCH_ORG = "http://fhir.nl/fhir/NamingSystem/ura|00000099"
CLIENTS = {  # BSN -> (family, given)
    "999911120": ("Jansen", "Sanne"),
    "999911132": ("Bakker", "Fenna"),
}


def _referral(bsn: str, number: str) -> dict[str, Any]:
    bundle: dict[str, Any] = json.loads(EXAMPLE_REFERRAL.read_text(encoding="utf-8"))
    family, given = CLIENTS[bsn]
    for e in bundle["entry"]:
        r = e["resource"]
        e["request"].pop("ifNoneExist", None)
        if r["resourceType"] == "Patient":
            r["identifier"][0]["value"] = bsn
            r["name"][0] = {"family": family, "given": [given]}
            r["telecom"] = [{"system": "phone", "value": "0612345678"}]
            r["address"] = [{"line": ["Kerkstraat 12"], "postalCode": "6211AB", "city": "Maastricht"}]
        if r["resourceType"] == "ServiceRequest":
            r["identifier"][0]["value"] = number
    return bundle


def _refer(client: TestClient, bsn: str, number: str) -> str:
    """Post a referral; the client's Patient reference."""
    r = post(client, _referral(bsn, number))
    assert r.status_code == 200, r.text
    sr = next(e["resource"] for e in r.json()["entry"] if e["resource"]["resourceType"] == "ServiceRequest")
    return str(sr["subject"]["reference"])


def _as(app: FastAPI, settings: Settings, **token: Any) -> TestClient:
    return client_as(app, settings, **token)


def kick_off(client: TestClient, path: str = "/$export", **params: str) -> Response:
    return client.get(path, params=params, headers=ASYNC)


def finish(client: TestClient, r: Response, timeout: float = 60.0) -> dict[str, Any]:
    """Poll the status URL of a kick-off until the manifest comes."""
    assert r.status_code == 202, r.text
    status_url = r.headers["content-location"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        s = client.get(status_url)
        if s.status_code == 200:
            assert s.headers["content-type"].startswith("application/json")
            return dict(s.json())
        assert s.status_code == 202, s.text
        assert s.headers["x-progress"] and s.headers["retry-after"].isdigit()
        time.sleep(0.05)
    raise AssertionError("the export did not finish")


def download(client: TestClient, manifest: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Every file of the manifest: type -> its resources, each line checked to be one of that type."""
    out: dict[str, list[dict[str, Any]]] = {}
    for o in manifest["output"]:
        r = client.get(o["url"], headers={"Accept": "application/fhir+ndjson"})
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("application/fhir+ndjson")
        lines = r.text.splitlines()
        assert len(lines) == o["count"] > 0
        resources = [json.loads(line) for line in lines]
        assert all(res["resourceType"] == o["type"] and res["id"] for res in resources)
        out[o["type"]] = resources
    return out


def raw(client: TestClient, manifest: dict[str, Any]) -> bytes:
    return b"".join(client.get(o["url"]).content for o in manifest["output"])


@pytest.fixture
def two(client: TestClient) -> tuple[str, str]:
    return _refer(client, "999911120", "EXP-1"), _refer(client, "999911132", "EXP-2")


def test_system_export_kick_off_poll_manifest_download(client: TestClient, two: tuple[str, str]) -> None:
    r = kick_off(client, _outputFormat="application/fhir+ndjson")
    assert r.json()["resourceType"] == "OperationOutcome"
    manifest = finish(client, r)
    assert manifest["requiresAccessToken"] is True and manifest["error"] == []
    assert manifest["request"].endswith("/$export?_outputFormat=application%2Ffhir%2Bndjson")
    assert manifest["transactionTime"].endswith("Z")
    files = download(client, manifest)
    assert {"Patient", "ServiceRequest", "Task", "Observation", "Consent"} <= set(files)
    assert set(files) <= stored_types() and "Subscription" not in files
    clients = {f"Patient/{p['id']}" for p in files["Patient"]}
    assert set(two) <= clients
    assert {client_of(sr) for sr in files["ServiceRequest"]} == set(two)
    for resources in files.values():  # each line a valid R4 resource (and of the profiles it claims)
        for res in resources:
            assert not has_errors(validate(res)), (res["resourceType"], validate(res))
    # a file needs the token of the client that asked
    anonymous = TestClient(client.app, raise_server_exceptions=False)
    assert anonymous.get(manifest["output"][0]["url"]).status_code == 401


def test_type_and_since_filter(client: TestClient) -> None:
    first = _refer(client, "999911120", "EXP-1")
    between = now_instant()
    time.sleep(0.01)
    second = _refer(client, "999911132", "EXP-2")
    manifest = finish(client, kick_off(client, _type="Patient,ServiceRequest"))
    assert {o["type"] for o in manifest["output"]} == {"Patient", "ServiceRequest"}
    since = download(client, finish(client, kick_off(client, _since=between, _type="ServiceRequest")))
    assert [client_of(sr) for sr in since["ServiceRequest"]] == [second]
    assert first != second


def test_group_export_contains_only_its_members(client: TestClient, two: tuple[str, str]) -> None:
    a, _ = two
    group = {
        "resourceType": "Group",
        "type": "person",
        "actual": True,
        "member": [{"entity": {"reference": a}}],
    }
    made = client.post("/Group", content=json.dumps(group), headers=FHIR_JSON_HEADERS)
    assert made.status_code == 201, made.text
    gid = made.json()["id"]
    files = download(client, finish(client, kick_off(client, f"/Group/{gid}/$export")))
    found = {client_of(res) for resources in files.values() for res in resources}
    assert found == {a}
    assert "Organization" not in files  # about no client
    assert kick_off(client, "/Group/no-such-group/$export").status_code == 404
    bad = {**group, "member": [{"entity": {"reference": "Patient/nobody"}}]}
    refused = client.post("/Group", content=json.dumps(bad), headers=FHIR_JSON_HEADERS)
    assert refused.status_code == 422 and "Group.member[0].entity" in refused.text


def test_pseudonymised_export_leaves_no_identifying_data(
    app: FastAPI, settings: Settings, client: TestClient, two: tuple[str, str]
) -> None:
    research = _as(app, settings, role="research", scope="system/*.rs", organization=RESEARCH_ORG)
    manifest = finish(research, kick_off(research, _pseudonymise="true"))
    data = raw(research, manifest)
    for bsn, (family, given) in CLIENTS.items():
        for secret in (bsn, family, given):
            assert secret.encode() not in data, secret
    for secret in ("2004-05-17", "Kerkstraat", "6211AB", "0612345678", "EXP-1", "EXP-2", *two):
        assert secret.encode() not in data, secret
    assert two[0].split("/")[1].encode() not in data
    files = download(research, manifest)
    assert not {"Organization", "Practitioner", "PractitionerRole", "Group"} & set(files)
    patients = {f"Patient/{p['id']}": p for p in files["Patient"]}
    records = [p for p in patients.values() if "link" not in p]
    assert len(records) == 2 and all(p["birthDate"] == "2004-05" for p in records)
    assert all(p.get("address") == [{"city": "Maastricht"}] for p in records)
    assert all({c["code"] for c in p["meta"]["security"]} == {"PSEUDED", "REDACTED"} for p in records)
    # her resources link to her pseudonym
    subjects = {sr["subject"]["reference"] for sr in files["ServiceRequest"]}
    assert subjects == {f"Patient/{p['id']}" for p in records}
    # the same pseudonyms the next time; two clients, two pseudonyms
    again = download(research, finish(research, kick_off(research, _pseudonymise="true", _type="Patient")))
    assert {p["id"] for p in again["Patient"]} == {p["id"] for p in files["Patient"]}
    assert len({p["id"] for p in records}) == 2
    # the JGZ may ask for the pseudonymised variant too, with the same pseudonyms
    jgz = download(client, finish(client, kick_off(client, _pseudonymise="true", _type="Patient")))
    assert {p["id"] for p in jgz["Patient"]} == {p["id"] for p in files["Patient"]}


def test_cancel(client: TestClient, two: tuple[str, str]) -> None:
    r = kick_off(client)
    status_url = r.headers["content-location"]
    assert client.delete(status_url).status_code == 202
    assert client.get(status_url).status_code == 404
    assert client.delete(status_url).status_code == 404
    done = finish(client, kick_off(client, _type="Patient"))
    done_status = done["output"][0]["url"].replace("$export-file", "$export-status").rsplit("/", 1)[0]
    assert client.delete(done_status).status_code == 202
    assert client.get(done["output"][0]["url"]).status_code == 404


def test_only_the_requester_polls_downloads_and_cancels(
    app: FastAPI, settings: Settings, client: TestClient, two: tuple[str, str]
) -> None:
    r = kick_off(client, _type="Patient")
    manifest = finish(client, r)
    status_url = r.headers["content-location"]
    other_org = _as(app, settings, organization="http://fhir.nl/fhir/NamingSystem/ura|00000042")
    other_client = _as(app, settings, client_id="another-client")
    for other in (other_org, other_client):
        assert other.get(status_url).status_code == 404
        assert other.get(manifest["output"][0]["url"]).status_code == 404
        assert other.delete(status_url).status_code == 404
    assert client.get(status_url).status_code == 200


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"_elements": "id"}, "_elements"),
        ({"patient": "Patient/x"}, "patient"),
        ({"_outputFormat": "text/csv"}, "_outputFormat"),
        ({"_type": "Patient,Nothing"}, "_type"),
        ({"_type": "Subscription"}, "_type"),
        ({"_since": "yesterday"}, "_since"),
        ({"_pseudonymise": "yes"}, "_pseudonymise"),
    ],
)
def test_bad_parameters(client: TestClient, params: dict[str, str], named: str) -> None:
    r = kick_off(client, **params)
    assert r.status_code == 400, r.text
    assert r.json()["resourceType"] == "OperationOutcome"
    assert named in r.text


def test_kick_off_needs_prefer_respond_async(client: TestClient) -> None:
    r = client.get("/$export")
    assert r.status_code == 400 and "respond-async" in r.text


def test_who_may_export(app: FastAPI, settings: Settings, client: TestClient, two: tuple[str, str]) -> None:
    for role in ("obstetric", "consult", "ozks", "privacy-officer", "exchange-admin"):
        r = kick_off(_as(app, settings, role=role, organization=RESEARCH_ORG))
        assert r.status_code == 403 and "$export" in r.text, (role, r.text)
    research = _as(app, settings, role="research", scope="system/*.rs", organization=RESEARCH_ORG)
    r = kick_off(research)
    assert r.status_code == 403 and "_pseudonymise=true" in r.text
    assert kick_off(research, "/Group/x/$export").status_code == 403
    narrow = _as(app, settings, scope="system/Patient.rs system/Task.cruds")
    assert kick_off(narrow, _type="ServiceRequest").status_code == 403
    manifest = finish(narrow, kick_off(narrow))
    assert {o["type"] for o in manifest["output"]} == {"Patient", "Task"}
    assert kick_off(_as(app, settings, scope="system/Task.c")).status_code == 403
    assert TestClient(app).get("/$export", headers=ASYNC).status_code == 401


def test_each_export_is_audited_as_a_transfer(
    app: FastAPI, store: Store, settings: Settings, client: TestClient, two: tuple[str, str]
) -> None:
    research = _as(app, settings, role="research", scope="system/*.rs", organization=RESEARCH_ORG)
    manifest = finish(research, kick_off(research, _pseudonymise="true"))
    total = sum(o["count"] for o in manifest["output"])
    app.state.ctx.adapter.exports.wait()
    _, events = AuditLog(app.state.ctx.adapter.store).search(two[0], 100, 0)
    exports = [e for e in events if e["type"]["code"] == "110106"]
    assert len(exports) == 1
    event = exports[0]
    details = {d["type"]: d["valueString"] for e in event["entity"] for d in e.get("detail", [])}
    assert details["variant"] == "pseudonymised" and details["resources"] == str(total)
    assert details["clients"] == "2" and "Patient" in details["types"]
    assert event["purposeOfEvent"][0]["coding"][0]["code"] == "HRESCH"
    org = event["agent"][1]["who"]["identifier"]
    assert f"{org['system']}|{org['value']}" == RESEARCH_ORG
    assert "verstrekking" in event["outcomeDesc"]
    assert {e["what"]["reference"] for e in event["entity"] if "what" in e} >= set(two)


def test_the_capability_statement_declares_export(client: TestClient) -> None:
    cs = client.get("/metadata").json()
    assert "http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data" in cs["instantiates"]
    system = {o["name"]: o["definition"] for o in cs["rest"][0]["operation"]}
    assert system["export"] == "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export"
    group = next(r for r in cs["rest"][0]["resource"] if r["type"] == "Group")
    assert {o["definition"] for o in group["operation"]} >= {
        "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/group-export"
    }


def _job_of(manifest: dict[str, Any]) -> str:
    return str(manifest["output"][0]["url"].split("/$export-file/")[1].split("/")[0])


def test_a_completed_export_says_until_when_its_files_are_kept_and_then_they_are_gone(
    client: TestClient, two: tuple[str, str]
) -> None:
    """Files with client data are kept VOORZORG_EXPORT_KEEP_HOURS (24 by default) after the export
    completed, announced in the manifest's Expires; past that the sweep deletes them and the job answers
    404 saying it expired. A job not yet due is left alone."""
    exports = client.app.state.ctx.adapter.exports  # type: ignore[attr-defined]
    old, new = (
        finish(client, kick_off(client, _type="Patient")),
        finish(client, kick_off(client, _type="Task")),
    )
    old_job, new_job = _job_of(old), _job_of(new)
    status_url = old["output"][0]["url"].replace("$export-file", "$export-status").rsplit("/", 1)[0]
    answer = client.get(status_url)
    completed = datetime.fromisoformat(_job_row(exports, old_job).updated)
    expires = parsedate_to_datetime(answer.headers["expires"])
    assert expires == (completed + timedelta(hours=24)).replace(microsecond=0)

    job = _job_row(exports, old_job)
    assert not exports.expired(job, completed + timedelta(hours=23, minutes=59))
    assert exports.expired(job, completed + timedelta(hours=24))  # refused even before the sweep
    assert exports.sweep(now=completed + timedelta(hours=23, minutes=59)) == []  # not yet
    assert exports.directory(old_job).is_dir()
    later = instant(completed + timedelta(hours=1))  # the newer job completed an hour after the older one
    exports.store.write(lambda s: s.exports.set(new_job, updated=later))
    assert exports.sweep(now=completed + timedelta(hours=24, seconds=1)) == [old_job]
    assert not exports.directory(old_job).exists() and exports.directory(new_job).is_dir()
    gone = client.get(status_url)
    assert gone.status_code == 404 and "has expired" in gone.json()["issue"][0]["diagnostics"]
    assert client.get(old["output"][0]["url"]).status_code == 404
    assert client.get(new["output"][0]["url"]).status_code == 200


def _job_row(exports: Any, job_id: str) -> Any:
    with exports.store.reading() as s:
        return s.exports.get(job_id)


def test_the_sweeper_runs_with_the_app(
    store: Store, settings: Settings, auth_headers: dict[str, str]
) -> None:
    """Started with the app: with a keep time of a few milliseconds, a finished export's files disappear
    without anyone asking for them, and the job is marked expired."""
    app = create_app(replace(settings, export_keep_hours=0.00002), store)  # 72 ms
    with TestClient(app, headers=auth_headers) as client:
        _refer(client, "999911120", "EXP-1")
        manifest = finish(client, kick_off(client, _type="Patient"))
        job = _job_of(manifest)
        exports = app.state.ctx.adapter.exports
        deadline = time.monotonic() + 10
        while exports.directory(job).exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not exports.directory(job).exists(), "the sweeper did not delete the expired export's files"
        assert _job_row(exports, job).status == "expired"
        assert client.get(manifest["output"][0]["url"]).status_code == 404
