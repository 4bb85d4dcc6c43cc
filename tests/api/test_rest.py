"""The REST interactions an integration engineer uses after intake: metadata, read, history, search,
the Task update, the conformance resources; and that every answer is FHIR JSON with security headers."""

from __future__ import annotations

import copy
import json
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from adapter.data import search_parameters, stored_types
from tests.api.helpers import (
    BSN,
    BSN_SYSTEM,
    SR,
    SR_SYSTEM,
    SR_VALUE,
    expressions,
    of_type,
    one,
    post,
    resource,
)
from tests.conftest import FHIR_JSON_HEADERS

BASE = "http://testserver"
SECURITY_HEADERS = ("x-content-type-options", "x-frame-options", "referrer-policy", "cache-control")


def intake(client: TestClient, bundle: dict[str, Any]) -> dict[str, Any]:
    r = post(client, bundle)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def second_referral(referral: dict[str, Any], n: int) -> dict[str, Any]:
    b = copy.deepcopy(referral)
    resource(b, SR)["identifier"][0]["value"] = f"VZ-2026-{n:04d}"
    return b


def outcome(r: Any, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/fhir+json")
    out: dict[str, Any] = r.json()
    assert out["resourceType"] == "OperationOutcome"
    assert out["issue"][0]["diagnostics"]
    return out


def put_task(client: TestClient, task: dict[str, Any], if_match: str | None = None) -> Any:
    headers = dict(FHIR_JSON_HEADERS)
    if if_match:
        headers["If-Match"] = if_match
    return client.put(f"/Task/{task['id']}", content=json.dumps(task), headers=headers)


def bare(task: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(task)
    out.pop("meta", None)
    return out


# --- /metadata ------------------------------------------------------------------------------------


def test_capability_statement(client: TestClient) -> None:
    r = client.get("/metadata")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/fhir+json")
    cs = r.json()
    assert cs["resourceType"] == "CapabilityStatement"
    assert cs["fhirVersion"] == "4.0.1"
    assert "application/fhir+json" in cs["format"]
    assert cs["kind"] == "instance"
    rest = cs["rest"][0]
    assert rest["mode"] == "server"
    assert [i["code"] for i in rest["interaction"]] == ["transaction"]
    assert [o["name"] for o in rest["operation"]] == ["check-eligibility", "process-message", "export"]
    assert rest["operation"][0]["definition"].endswith("/OperationDefinition/check-eligibility")
    by_type = {r["type"]: r for r in rest["resource"]}
    for rtype in stored_types():
        res = by_type[rtype]
        codes = {i["code"] for i in res["interaction"]}
        assert {"read", "vread", "search-type", "history-instance", "history-type"} <= codes, rtype
        # states, withdrawal, a Subscription restarted or stopped
        assert ("update" in codes) == (rtype in {"Task", "Goal", "Consent", "Subscription"}), rtype
        assert "delete" not in codes, rtype
        # a visit, a child, an assessment or goal, a consent, a pull notification; the rest via intake
        # Task: a notification; Subscription: a sender's, to its referral Tasks; a Group to export
        creatable = {"Encounter", "Patient", "Observation", "Goal", "Consent", "Task", "Subscription"}
        creatable.add("Group")
        assert ("create" in codes) == (rtype in creatable), rtype
        names = {p["name"] for p in res["searchParam"]}
        assert {"_id", "_lastUpdated"} <= names, rtype
        assert set(search_parameters().get(rtype, {})) <= names, rtype
    for rtype in ("Patient", "ServiceRequest", "Task", "Observation", "Consent", "GuidanceResponse"):
        assert rtype in by_type
    assert {"identifier", "birthdate"} <= {p["name"] for p in by_type["Patient"]["searchParam"]}
    assert {"patient", "status", "focus"} <= {p["name"] for p in by_type["Task"]["searchParam"]}


# --- read, vread, history -------------------------------------------------------------------------


def test_read_has_version_headers(client: TestClient, referral: dict[str, Any]) -> None:
    patient = one(intake(client, referral), "Patient")
    r = client.get(f"/Patient/{patient['id']}")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/fhir+json")
    assert r.headers["etag"] == 'W/"1"'
    modified = parsedate_to_datetime(r.headers["last-modified"])
    assert modified.isoformat()[:19] == r.json()["meta"]["lastUpdated"][:19]
    assert r.headers["content-location"] == f"{BASE}/Patient/{patient['id']}/_history/1"
    body = r.json()
    assert body["id"] == patient["id"]
    assert body["identifier"] == [{"system": BSN_SYSTEM, "value": BSN}]
    assert body["meta"]["versionId"] == "1"


def test_vread(client: TestClient, referral: dict[str, Any]) -> None:
    task = one(intake(client, referral), "Task")
    r = client.get(f"/Task/{task['id']}/_history/1")
    assert r.status_code == 200
    assert r.headers["etag"] == 'W/"1"'
    assert r.json()["status"] == "accepted"
    outcome(client.get(f"/Task/{task['id']}/_history/2"), 404)
    outcome(client.get(f"/Task/{task['id']}/_history/one"), 404)


@pytest.mark.parametrize(
    "path",
    ["/Patient/does-not-exist", "/Patient/does-not-exist/_history", "/Patient/does-not-exist/_history/1"],
)
def test_unknown_id_is_404(client: TestClient, path: str) -> None:
    out = outcome(client.get(path), 404)
    assert out["issue"][0]["code"] in ("not-found", "not-supported")


@pytest.mark.parametrize("path", ["/Banana", "/Banana/1", "/Banana/1/_history", "/Banana/_history"])
def test_unknown_type_is_404(client: TestClient, path: str) -> None:
    outcome(client.get(path), 404)


def test_instance_and_type_history(client: TestClient, referral: dict[str, Any]) -> None:
    first = intake(client, referral)
    task = one(first, "Task")
    changed = bare(task)
    changed["status"] = "in-progress"
    assert put_task(client, changed, 'W/"1"').status_code == 200
    h = client.get(f"/Task/{task['id']}/_history")
    assert h.status_code == 200
    bundle = h.json()
    assert bundle["type"] == "history"
    assert bundle["total"] == 2
    # newest first
    assert [e["resource"]["meta"]["versionId"] for e in bundle["entry"]] == ["2", "1"]
    assert [e["resource"]["status"] for e in bundle["entry"]] == ["in-progress", "accepted"]
    assert bundle["entry"][0]["response"]["etag"] == 'W/"2"'

    intake(client, second_referral(referral, 7))
    th = client.get("/Task/_history").json()
    assert th["type"] == "history"
    assert th["total"] == 3
    assert {e["resource"]["resourceType"] for e in th["entry"]} == {"Task"}
    ph = client.get("/Patient/_history").json()
    assert ph["total"] == 1


# --- search ---------------------------------------------------------------------------------------


@pytest.fixture
def two(client: TestClient, referral: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    return intake(client, referral), intake(client, second_referral(referral, 43))


def ids_of(r: Any) -> list[str]:
    assert r.status_code == 200, r.text
    bundle = r.json()
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "searchset"
    assert bundle["total"] >= len(bundle.get("entry", []))
    for e in bundle.get("entry", []):
        assert e["search"]["mode"] == "match"
        assert e["fullUrl"] == f"{BASE}/{e['resource']['resourceType']}/{e['resource']['id']}"
    return [e["resource"]["id"] for e in bundle.get("entry", [])]


def test_search_by_id(client: TestClient, two: Any) -> None:
    a, b = one(two[0], "ServiceRequest")["id"], one(two[1], "ServiceRequest")["id"]
    assert ids_of(client.get(f"/ServiceRequest?_id={a}")) == [a]
    assert sorted(ids_of(client.get(f"/ServiceRequest?_id={a},{b}"))) == sorted([a, b])
    assert ids_of(client.get("/ServiceRequest?_id=nope")) == []


def test_search_by_identifier(client: TestClient, two: Any) -> None:
    a = one(two[0], "ServiceRequest")["id"]
    assert ids_of(client.get(f"/ServiceRequest?identifier={quote(SR_SYSTEM)}|{SR_VALUE}")) == [a]
    assert ids_of(client.get(f"/ServiceRequest?identifier={SR_VALUE}")) == [a]
    assert ids_of(client.get(f"/ServiceRequest?identifier=urn:other|{SR_VALUE}")) == []
    patient = one(two[0], "Patient")["id"]
    assert ids_of(client.get(f"/Patient?identifier={BSN_SYSTEM}|{BSN}")) == [patient]
    assert ids_of(client.get(f"/Patient?identifier={BSN}")) == [patient]
    assert ids_of(client.get("/Patient?identifier=999911121")) == []


def test_search_by_patient_and_subject(client: TestClient, two: Any) -> None:
    patient = one(two[0], "Patient")["id"]
    srs = sorted(one(b, "ServiceRequest")["id"] for b in two)
    assert sorted(ids_of(client.get(f"/ServiceRequest?patient=Patient/{patient}"))) == srs
    assert sorted(ids_of(client.get(f"/ServiceRequest?patient={patient}"))) == srs
    assert sorted(ids_of(client.get(f"/ServiceRequest?subject=Patient/{patient}"))) == srs
    assert sorted(ids_of(client.get(f"/ServiceRequest?patient={BASE}/Patient/{patient}"))) == srs
    assert ids_of(client.get("/ServiceRequest?patient=Patient/other")) == []
    tasks = sorted(one(b, "Task")["id"] for b in two)
    assert sorted(ids_of(client.get(f"/Task?patient={patient}"))) == tasks
    assert len(ids_of(client.get(f"/Observation?subject=Patient/{patient}"))) == 12
    gr = sorted(one(b, "GuidanceResponse")["id"] for b in two)
    assert sorted(ids_of(client.get(f"/GuidanceResponse?patient={patient}"))) == gr


def test_search_by_status(client: TestClient, two: Any) -> None:
    task_a = one(two[0], "Task")
    changed = bare(task_a)
    changed["status"] = "in-progress"
    assert put_task(client, changed, 'W/"1"').status_code == 200
    assert ids_of(client.get("/Task?status=in-progress")) == [task_a["id"]]
    assert ids_of(client.get("/Task?status=accepted")) == [one(two[1], "Task")["id"]]
    assert len(ids_of(client.get("/Task?status=accepted,in-progress"))) == 2
    assert ids_of(client.get("/Task?status=rejected")) == []


def test_search_by_last_updated(client: TestClient, referral: dict[str, Any]) -> None:
    first = intake(client, referral)
    stamp = max(e["resource"]["meta"]["lastUpdated"] for e in first["entry"])
    second = intake(client, second_referral(referral, 44))
    a, b = one(first, "ServiceRequest")["id"], one(second, "ServiceRequest")["id"]
    assert ids_of(client.get(f"/ServiceRequest?_lastUpdated=gt{stamp}")) == [b]
    assert ids_of(client.get(f"/ServiceRequest?_lastUpdated=le{stamp}")) == [a]
    day = stamp[:10]
    assert sorted(ids_of(client.get(f"/ServiceRequest?_lastUpdated={day}"))) == sorted([a, b])
    assert ids_of(client.get("/ServiceRequest?_lastUpdated=lt2000-01-01")) == []


def test_paging_walks_through_every_result_once(client: TestClient, referral: dict[str, Any]) -> None:
    for n in range(3):
        intake(client, second_referral(referral, 100 + n))
    expected = sorted(ids_of(client.get("/Observation?_count=100")))
    assert len(expected) == 18
    seen: list[str] = []
    url: str | None = "/Observation?_count=5"
    pages = 0
    while url:
        r = client.get(url)
        page = r.json()
        assert page["total"] == 18
        got = ids_of(r)
        assert len(got) <= 5
        seen += got
        links = {link["relation"]: link["url"] for link in page["link"]}
        assert "self" in links
        if pages > 0:
            assert "previous" in links
            # previous really goes back one page
            assert ids_of(client.get(links["previous"]))[:5] == seen[-len(got) - 5 : -len(got)][:5]
        else:
            assert "previous" not in links
        url = links.get("next")
        pages += 1
        assert pages <= 10
    assert pages == 4
    assert len(seen) == len(set(seen)) == 18
    assert sorted(seen) == expected


def test_next_keeps_the_filters(client: TestClient, referral: dict[str, Any]) -> None:
    first = intake(client, referral)
    intake(client, second_referral(referral, 45))
    patient = one(first, "Patient")["id"]
    r = client.get(f"/Observation?patient={patient}&code=http://snomed.info/sct|364325004&_count=1")
    page = r.json()
    assert page["total"] == 2
    nxt = {link["relation"]: link["url"] for link in page["link"]}["next"]
    second = client.get(nxt).json()
    assert second["total"] == 2
    assert second["entry"][0]["resource"]["code"]["coding"][0]["code"] == "364325004"
    assert "next" not in {link["relation"] for link in second["link"]}


def test_sort_newest_first(client: TestClient, referral: dict[str, Any]) -> None:
    for n in range(3):
        intake(client, second_referral(referral, 200 + n))
    r = client.get("/ServiceRequest?_sort=-_lastUpdated")
    stamps = [e["resource"]["meta"]["lastUpdated"] for e in r.json()["entry"]]
    assert len(stamps) == 3
    assert stamps == sorted(stamps, reverse=True)
    values = [e["resource"]["identifier"][0]["value"] for e in r.json()["entry"]]
    assert values == ["VZ-2026-0202", "VZ-2026-0201", "VZ-2026-0200"]
    r = client.get("/ServiceRequest?_sort=_lastUpdated")
    assert [e["resource"]["identifier"][0]["value"] for e in r.json()["entry"]] == list(reversed(values))


def test_unknown_search_parameter_is_400_unless_lenient(client: TestClient, referral: dict[str, Any]) -> None:
    intake(client, referral)
    out = outcome(client.get("/Patient?family=Jansen"), 400)
    assert "family" in expressions(out)
    out = outcome(client.get("/Patient?identifier:text=x"), 400)
    r = client.get("/Patient?family=Nobody", headers={"Prefer": "handling=lenient"})
    assert r.status_code == 200, r.text
    assert r.json()["total"] == 1  # the unknown parameter was ignored, not applied


@pytest.mark.parametrize(
    "query",
    [
        "/Patient?_lastUpdated=yesterday",
        "/Patient?birthdate=17-05-2004",
        "/Task?authored-on=2026-3-1",
        "/Patient?_sort=birthdate",
        "/Patient?_count=-1",
    ],
)
def test_invalid_search_values_are_400(client: TestClient, query: str) -> None:
    out = outcome(client.get(query), 400)
    assert expressions(out)


@pytest.mark.parametrize(
    "query",
    ["/Task?authored-on=2026-13-01", "/Patient?birthdate=2004-02-31", "/Patient?_lastUpdated=gt2026-00-10"],
)
def test_dates_that_do_not_exist_are_400(client: TestClient, query: str) -> None:
    out = outcome(client.get(query), 400)
    assert expressions(out)


def test_post_search(app: Any, auth_headers: dict[str, str], referral: dict[str, Any]) -> None:
    client = TestClient(app, headers=auth_headers, raise_server_exceptions=False)
    patient = one(intake(client, referral), "Patient")["id"]
    r = client.post(
        "/Patient/_search",
        content=f"identifier={BSN_SYSTEM}|{BSN}",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert ids_of(r) == [patient]


# --- writes that are refused, and the Task update -------------------------------------------------


def test_delete_is_405(client: TestClient, referral: dict[str, Any]) -> None:
    patient = one(intake(client, referral), "Patient")
    outcome(client.delete(f"/Patient/{patient['id']}"), 405)
    assert client.get(f"/Patient/{patient['id']}").status_code == 200


def test_put_patient_is_405(client: TestClient, referral: dict[str, Any]) -> None:
    patient = one(intake(client, referral), "Patient")
    body = bare(patient)
    body["name"] = [{"family": "Anders"}]
    r = client.put(f"/Patient/{patient['id']}", content=json.dumps(body), headers=FHIR_JSON_HEADERS)
    outcome(r, 405)
    assert client.get(f"/Patient/{patient['id']}").json()["name"][0]["family"] == "Jansen"


def test_post_to_a_type_is_405(client: TestClient, referral: dict[str, Any]) -> None:
    """A referral arrives as a whole (intake), never as a loose ServiceRequest."""
    r = client.post(
        "/ServiceRequest", content=json.dumps(resource(referral, "03")), headers=FHIR_JSON_HEADERS
    )
    outcome(r, 405)
    assert client.get("/ServiceRequest").json()["total"] == 0


def test_put_task_with_if_match_makes_a_new_version(client: TestClient, referral: dict[str, Any]) -> None:
    task = one(intake(client, referral), "Task")
    body = bare(task)
    body["status"] = "in-progress"
    r = put_task(client, body, 'W/"1"')
    assert r.status_code == 200, r.text
    assert r.headers["etag"] == 'W/"2"'
    assert r.json()["status"] == "in-progress"
    assert r.json()["meta"]["versionId"] == "2"
    read = client.get(f"/Task/{task['id']}")
    assert read.headers["etag"] == 'W/"2"' and read.json()["status"] == "in-progress"


def test_put_task_with_a_stale_if_match_is_412(client: TestClient, referral: dict[str, Any]) -> None:
    task = one(intake(client, referral), "Task")
    body = bare(task)
    body["status"] = "in-progress"
    assert put_task(client, body, 'W/"1"').status_code == 200
    body["status"] = "completed"
    (issue,) = outcome(put_task(client, body, 'W/"1"'), 412)["issue"]
    assert issue["code"] == "conflict" and 'W/"2"' in issue["diagnostics"]
    # the header it is about, and the element it was compared with
    assert issue["location"] == ["http.If-Match"] and issue["expression"] == ["Task.meta.versionId"]
    assert client.get(f"/Task/{task['id']}").json()["status"] == "in-progress"


def test_invalid_task_transition_is_409(client: TestClient, referral: dict[str, Any]) -> None:
    task = one(intake(client, referral), "Task")
    body = bare(task)
    body["status"] = "requested"
    out = outcome(put_task(client, body, 'W/"1"'), 409)
    assert "Task.status" in expressions(out)
    assert client.get(f"/Task/{task['id']}").headers["etag"] == 'W/"1"'


def test_put_task_with_another_id_is_400(client: TestClient, referral: dict[str, Any]) -> None:
    task = one(intake(client, referral), "Task")
    body = bare(task)
    body["id"] = "another"
    r = client.put(
        f"/Task/{task['id']}", content=json.dumps(body), headers={**FHIR_JSON_HEADERS, "If-Match": 'W/"1"'}
    )
    out = outcome(r, 400)
    assert "Task.id" in expressions(out)


def test_put_task_that_is_not_a_task_is_400(client: TestClient, referral: dict[str, Any]) -> None:
    out = intake(client, referral)
    task, patient = one(out, "Task"), bare(one(out, "Patient"))
    patient["id"] = task["id"]
    r = client.put(f"/Task/{task['id']}", content=json.dumps(patient), headers=FHIR_JSON_HEADERS)
    outcome(r, 400)


def test_put_unknown_task_is_404(client: TestClient, referral: dict[str, Any]) -> None:
    task = bare(one(intake(client, referral), "Task"))
    task["id"] = "no-such-task"
    outcome(put_task(client, task, 'W/"1"'), 404)


def test_put_without_if_match_is_428(client: TestClient, referral: dict[str, Any]) -> None:
    """A lost update cannot happen: an update names the version it changes (no PUT here creates)."""
    task = bare(one(intake(client, referral), "Task"))
    for path, body in ((f"/Task/{task['id']}", task), ("/Task/no-such-task", {**task, "id": "no-such-task"})):
        r = client.put(path, content=json.dumps({**body, "status": "in-progress"}), headers=FHIR_JSON_HEADERS)
        assert outcome(r, 428)["issue"][0]["code"] == "required"
    assert client.get(f"/Task/{task['id']}").json()["meta"]["versionId"] == "1"


def test_if_match_that_is_no_version_is_400(client: TestClient, referral: dict[str, Any]) -> None:
    task = bare(one(intake(client, referral), "Task"))
    outcome(put_task(client, task, '"abc"'), 400)


# --- conformance resources ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cs_id", ["voorzorg-track", "voorzorg-referral-item", "voorzorg-decision-reason", "voorzorg-theme"]
)
def test_own_codesystems_are_served(client: TestClient, cs_id: str) -> None:
    r = client.get(f"/CodeSystem/{cs_id}")
    assert r.status_code == 200, r.text
    cs = r.json()
    assert cs["resourceType"] == "CodeSystem" and cs["id"] == cs_id
    assert cs["url"] == f"https://fhir.voorzorg.nl/CodeSystem/{cs_id}"
    codes = {c["code"] for c in cs.get("concept", [])}
    expected = {
        "voorzorg-track": {"voorzorg", "voorzorg-2", "late-start", "consult", "not-eligible", "incomplete"},
        "voorzorg-referral-item": {
            "voorzorg-referral",
            "very-vulnerable-situation",
            "serious-parenting-problems",
            "forced-framework",
        },
        "voorzorg-decision-reason": {
            "forced-framework",
            "late-start-plus-2",
            "outside-criteria",
            "nurse-not-trained",
            "not-very-vulnerable",
            "child-older-than-6-weeks",
        },
        "voorzorg-theme": set(),
    }[cs_id]
    assert expected <= codes
    search = client.get(f"/CodeSystem?url={cs['url']}").json()
    assert search["total"] == 1
    assert search["entry"][0]["resource"]["id"] == cs_id


def test_codesystem_search_by_unknown_url_is_empty(client: TestClient) -> None:
    assert client.get("/CodeSystem?url=https://example.org/nothing").json()["total"] == 0
    outcome(client.get("/CodeSystem/not-ours"), 404)


def test_operation_definition(client: TestClient) -> None:
    r = client.get("/OperationDefinition/check-eligibility")
    assert r.status_code == 200
    od = r.json()
    assert od["code"] == "check-eligibility" and od["system"] is True and od["affectsState"] is False
    names = {p["name"] for p in od["parameter"]}
    assert {"referral", "track", "reason", "consultRequired", "explanation"} <= names
    url = client.get("/metadata").json()["rest"][0]["operation"][0]["definition"]
    assert od["url"] == url


# --- every answer ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/metadata"),
        ("GET", "/Patient"),
        ("GET", "/Patient/nope"),
        ("GET", "/Banana"),
        ("DELETE", "/Task/x"),
    ],
)
def test_security_headers_on_every_answer(client: TestClient, method: str, path: str) -> None:
    r = client.request(method, path)
    for h in SECURITY_HEADERS:
        assert h in r.headers, (h, path)
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["content-type"].startswith("application/fhir+json")


def test_errors_never_answer_html_or_plain_json(client: TestClient) -> None:
    for r in (
        client.get("/no/such/path/at/all"),
        client.get("/Patient?_count=abc"),
        client.patch("/Task/x", content="{}"),
    ):
        assert 400 <= r.status_code < 500
        assert r.headers["content-type"].startswith("application/fhir+json"), r.headers["content-type"]
        assert r.json()["resourceType"] == "OperationOutcome"


def test_search_results_only_carry_the_searched_type(client: TestClient, referral: dict[str, Any]) -> None:
    out = intake(client, referral)
    assert len(of_type(out, "Observation")) == 6
    bundle = client.get("/Observation").json()
    assert {e["resource"]["resourceType"] for e in bundle["entry"]} == {"Observation"}
