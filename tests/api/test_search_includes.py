"""Search as integrators use it: `_include` / `_revinclude` for the referral loop, each included resource
held to the caller's access policy (scopes and organisation), and `_summary`, `_elements`, `_total`."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from adapter.config import Settings
from adapter.store.engine import Store
from tests.security.helpers import (
    ORG_A,
    ORG_B,
    client_as,
    last_at,
    obstetric,
    post_referral,
    set_requester_org,
)

SUBSETTED = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED"}


@pytest.fixture
def jgz(app: FastAPI, settings: Settings) -> TestClient:
    return client_as(app, settings)


@pytest.fixture
def both(app: FastAPI, settings: Settings, referral: dict[str, Any]) -> None:
    """The same woman referred by practice A (the example) and by practice B, each in its own name."""
    assert post_referral(obstetric(app, settings, ORG_A), referral).status_code == 200
    mine = copy.deepcopy(referral)
    set_requester_org(mine, ORG_B)
    for e in mine["entry"]:
        if e["resource"]["resourceType"] == "ServiceRequest":
            e["resource"]["identifier"][0]["value"] = "B-0001"
            e["request"]["ifNoneExist"] = e["request"]["ifNoneExist"].replace("VZ-2026-0042", "B-0001")
    r = post_referral(obstetric(app, settings, ORG_B), mine)
    assert r.status_code == 200, r.text


def by_mode(bundle: dict[str, Any], mode: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle.get("entry", []) if e["search"]["mode"] == mode]


def types(resources: list[dict[str, Any]]) -> list[str]:
    return sorted(r["resourceType"] for r in resources)


LOOP = "_include=Task:focus&_include=Task:patient&_revinclude:iterate=GuidanceResponse:request"


@pytest.mark.usefixtures("both")
def test_a_sender_gets_its_task_with_referral_client_and_decision_in_one_call(
    app: FastAPI, settings: Settings
) -> None:
    for org, number in ((ORG_A, "VZ-2026-0042"), (ORG_B, "B-0001")):
        r = obstetric(app, settings, org).get(
            f"/Task?code=http://hl7.org/fhir/CodeSystem/task-code|fulfill&{LOOP}"
        )
        assert r.status_code == 200, r.text
        bundle = r.json()
        assert types(by_mode(bundle, "match")) == ["Task"]
        included = by_mode(bundle, "include")
        assert types(included) == ["GuidanceResponse", "Patient", "ServiceRequest"]
        referral = next(x for x in included if x["resourceType"] == "ServiceRequest")
        assert referral["identifier"][0]["value"] == number  # its own, never the other practice's
        decision = next(x for x in included if x["resourceType"] == "GuidanceResponse")
        assert decision["requestIdentifier"]["value"] == number
        assert all(e["fullUrl"].startswith("http://testserver/") for e in bundle["entry"])
        assert "_include=Task%3Afocus" in bundle["link"][0]["url"]


@pytest.mark.usefixtures("both")
def test_a_revinclude_brings_only_what_the_caller_may_see(
    app: FastAPI, settings: Settings, jgz: TestClient
) -> None:
    """Both practices have a part in the woman; each sees only its own Task pointing at her."""
    for org in (ORG_A, ORG_B):
        bundle = obstetric(app, settings, org).get("/Patient?_revinclude=Task:patient").json()
        assert types(by_mode(bundle, "match")) == ["Patient"]
        assert types(by_mode(bundle, "include")) == ["Task"]
    everything = jgz.get("/Patient?_revinclude=Task:patient&_revinclude=CarePlan:subject").json()
    included = types(by_mode(everything, "include"))
    assert included.count("Task") == 2 and included.count("CarePlan") >= 1, included


@pytest.mark.usefixtures("both")
def test_types_the_token_may_not_read_are_left_out_and_the_bundle_says_so(
    app: FastAPI, settings: Settings
) -> None:
    narrow = client_as(
        app, settings, role="obstetric", organization=ORG_A, scope="system/Task.rs system/ServiceRequest.rs"
    )
    bundle = narrow.get(f"/Task?{LOOP}").json()
    assert types(by_mode(bundle, "include")) == ["ServiceRequest"]
    [outcome] = by_mode(bundle, "outcome")
    said = " ".join(i["diagnostics"] for i in outcome["issue"])
    assert "Patient" in said and "GuidanceResponse" in said
    assert all(i["severity"] == "warning" for i in outcome["issue"])
    # a role that may never read a type (CarePlan for a referring practice): the same
    bundle = obstetric(app, settings, ORG_A).get("/Patient?_revinclude=CarePlan:subject").json()
    assert by_mode(bundle, "include") == []
    assert "CarePlan" in by_mode(bundle, "outcome")[0]["issue"][0]["diagnostics"]


@pytest.mark.usefixtures("both")
def test_included_resources_are_in_the_audit_record(app: FastAPI, settings: Settings, store: Store) -> None:
    bundle = obstetric(app, settings, ORG_A).get(f"/Task?{LOOP}").json()
    event = last_at(store, "GET /Task")
    named = {e["what"]["reference"] for e in event["entity"] if "what" in e and "reference" in e["what"]}
    for r in by_mode(bundle, "include"):
        assert f"{r['resourceType']}/{r['id']}" in named


@pytest.mark.usefixtures("both")
def test_the_panel_brings_its_members_and_careplans_follow_their_subject(jgz: TestClient) -> None:
    bundle = jgz.get(
        "/Observation?code=http://snomed.info/sct|118185001&_include=Observation:has-member"
    ).json()
    assert len(by_mode(bundle, "match")) == 2  # one pregnancy panel per referral
    members = by_mode(bundle, "include")
    assert len(members) == 4
    assert {m["code"]["coding"][0]["code"] for m in members} == {"161714006", "364325004"}
    plans = jgz.get("/CarePlan?_include=CarePlan:subject").json()
    assert types(by_mode(plans, "include")) == ["Patient"]


@pytest.mark.usefixtures("both")
def test_summary_count_elements_and_total(jgz: TestClient) -> None:
    counted = jgz.get("/Task?_summary=count").json()
    assert counted["total"] >= 2 and not counted.get("entry")
    assert jgz.get("/Task?_count=1&_total=none").json().get("total") is None
    assert (
        jgz.get("/Task?_count=0&_totalMethod=count").json()["total"] == counted["total"]
    )  # fhirpy's count()
    bundle = jgz.get("/Task?_elements=status,for&_count=1").json()
    task = by_mode(bundle, "match")[0]
    assert set(task) == {"resourceType", "id", "meta", "status", "for"}
    assert SUBSETTED.items() <= task["meta"]["tag"][0].items()
    assert "_elements=status%2Cfor" in next(x["url"] for x in bundle["link"] if x["relation"] == "self")
    summary = by_mode(jgz.get("/Observation?_summary=true&_count=1").json(), "match")[0]
    assert "note" not in summary and "status" in summary and "code" in summary
    assert any(t["code"] == "SUBSETTED" for t in summary["meta"]["tag"])
    value = by_mode(
        jgz.get("/Observation?_elements=value&code=http://snomed.info/sct|364325004").json(), "match"
    )
    assert value[0]["valueInteger"] == 0 and "code" not in value[0]
    whole = by_mode(jgz.get("/Task?_summary=false&_count=1").json(), "match")[0]
    assert "tag" not in whole.get("meta", {})


@pytest.mark.parametrize(
    "query",
    [
        "_include=*",
        "_include=Task:nothing",
        "_include=Task:status",  # a token, not a reference
        "_include=ServiceRequest:subject",  # from another type, without :iterate
        "_include=GuidanceResponse:request",  # an identifier link: only _revinclude follows it
        "_include:deep=Task:focus",
        "_summary=maybe",
        "_total=exact",
    ],
)
def test_what_cannot_be_included_or_summarised_is_refused_with_400(jgz: TestClient, query: str) -> None:
    r = jgz.get(f"/Task?{query}")
    assert r.status_code == 400, r.text
    assert r.json()["issue"][0]["expression"] == [query.split("=")[0]]


def test_the_consult_team_includes_its_question_but_never_the_client(
    app: FastAPI, settings: Settings, referral: dict[str, Any]
) -> None:
    forced = copy.deepcopy(referral)
    for e in forced["entry"]:
        code = e["resource"].get("code", {}).get("coding", [{}])[0].get("code")
        if code == "forced-framework":
            e["resource"]["valueBoolean"] = True
    assert post_referral(client_as(app, settings), forced).status_code == 200
    consult = client_as(
        app,
        settings,
        role="consult",
        scope="system/Task.rs system/ServiceRequest.rs system/Patient.rs",
        organization="http://fhir.nl/fhir/NamingSystem/ura|00000001",
    )
    bundle = consult.get("/Task?_include=Task:focus&_include=Task:patient&_include=Task:part-of").json()
    assert types(by_mode(bundle, "match")) == ["Task"]
    [question] = by_mode(bundle, "include")  # its consult request; not the referral Task it is part of
    assert question["resourceType"] == "ServiceRequest"
    assert question["category"][0]["coding"][0]["code"] == "11429006"
    notes = " ".join(i["diagnostics"] for o in by_mode(bundle, "outcome") for i in o["issue"])
    assert "Patient resources are not included" in notes  # the role never reads identity data
