"""The CapabilityStatement tells the truth: how to get a token (rest.security), what each interaction
accepts and why, only what works — every declared read, search and include answers — and `_count` on
every search, the conformance resources and the audit log included."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from fhirclient.models.capabilitystatement import CapabilityStatement

from adapter.data import stored_types
from tests.api.helpers import post

BASE = "http://testserver"


def statement(client: TestClient) -> dict[str, Any]:
    r = client.get("/metadata")
    assert r.status_code == 200
    out: dict[str, Any] = r.json()
    return out


def by_type(cs: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["type"]: r for r in cs["rest"][0]["resource"]}


def test_a_generic_client_finds_the_token_endpoint_from_metadata(client: TestClient) -> None:
    """SMART Backend Services discovery: the statement says SMART, the well-known document names the
    token endpoint (no `oauth-uris`: R4 makes its authorize URI mandatory, and there is none here)."""
    cs = statement(client)
    parsed = CapabilityStatement(cs)  # strict R4 (fhirclient's models)
    assert parsed.rest[0].security.service[0].coding[0].code == "SMART-on-FHIR"
    token_url = f"{BASE}/auth/token"
    assert client.get("/.well-known/smart-configuration").json()["token_endpoint"] == token_url
    assert "/.well-known/smart-configuration" in cs["rest"][0]["security"]["description"]
    service = cs["rest"][0]["security"]["service"][0]["coding"][0]
    assert service["code"] == "SMART-on-FHIR"
    assert cs["rest"][0]["security"]["cors"] is False


def test_every_interaction_says_what_it_accepts(client: TestClient) -> None:
    cs = statement(client)
    rest = cs["rest"][0]
    [transaction] = rest["interaction"]
    assert transaction["code"] == "transaction" and "Only a VoorZorg referral" in transaction["documentation"]
    types = by_type(cs)
    for rtype in stored_types():
        entry = types[rtype]
        assert entry.get("documentation"), rtype
        for interaction in entry["interaction"]:
            assert interaction.get("documentation"), (rtype, interaction["code"])
    create = {r: {i["code"]: i.get("documentation", "") for i in e["interaction"]} for r, e in types.items()}
    assert "A child born" in create["Patient"]["create"]
    assert "notified-pull" in create["Task"]["create"] and "plain Task is refused" in create["Task"]["create"]
    assert "theme assessment" in create["Observation"]["create"]
    assert "home visit" in create["Encounter"]["create"]
    assert "jgz" in create["Patient"]["history-type"]
    for op in rest["operation"] + [o for e in types.values() for o in e.get("operation", [])]:
        assert op.get("documentation"), op["name"]
    assert {i["code"] for i in types["AuditEvent"]["interaction"]} == {"read", "search-type"}


def test_the_referral_loop_includes_are_declared(client: TestClient) -> None:
    types = by_type(statement(client))
    assert {"Task:focus", "Task:patient"} <= set(types["Task"]["searchInclude"])
    assert "ServiceRequest:subject" in types["ServiceRequest"]["searchInclude"]
    assert "GuidanceResponse:request" in types["ServiceRequest"]["searchRevInclude"]
    assert "CarePlan:subject" in types["Patient"]["searchRevInclude"]
    assert "Observation:has-member" in types["Observation"]["searchInclude"]


def test_every_declared_read_search_and_include_answers(client: TestClient, referral: dict[str, Any]) -> None:
    """What the statement declares for a generic client works (as the JGZ, which sees all data)."""
    assert post(client, referral).status_code == 200
    for rtype, entry in by_type(statement(client)).items():
        if rtype not in stored_types():
            continue
        codes = {i["code"] for i in entry["interaction"]}
        found = client.get(f"/{rtype}?_count=1")
        assert found.status_code == 200, (rtype, found.text)
        assert client.get(f"/{rtype}/_history").status_code == 200, rtype
        for include in entry.get("searchInclude", []):
            assert client.get(f"/{rtype}?_include={include}").status_code == 200, include
        for include in entry.get("searchRevInclude", []):
            assert client.get(f"/{rtype}?_revinclude={include}").status_code == 200, include
        for e in found.json().get("entry", []):
            assert {"read", "vread", "history-instance"} <= codes
            ref = f"{rtype}/{e['resource']['id']}"
            assert client.get(f"/{ref}").status_code == 200, ref
            assert client.get(f"/{ref}/_history").status_code == 200, ref
            assert client.get(f"/{ref}/_history/1").status_code == 200, ref


def test_count_pages_the_conformance_resources(client: TestClient) -> None:
    everything = client.get("/CodeSystem").json()
    assert everything["total"] > 2
    seen: list[str] = []
    url: str | None = "/CodeSystem?_count=2"
    while url:
        page = client.get(url.removeprefix(BASE)).json()
        assert len(page.get("entry", [])) <= 2
        seen += [e["resource"]["id"] for e in page.get("entry", [])]
        url = next((x["url"] for x in page["link"] if x["relation"] == "next"), None)
    assert sorted(seen) == sorted(e["resource"]["id"] for e in everything["entry"])
    assert client.get("/ValueSet?_count=0").json().get("entry") is None
    assert client.get("/CodeSystem?_offset=1&_count=1").json()["entry"][0]["resource"]["id"] == seen[1]


def test_count_pages_the_audit_log(client: TestClient, app: Any, settings: Any) -> None:
    from tests.security.helpers import privacy_officer

    for _ in range(3):
        client.get("/Task")
    officer = privacy_officer(app, settings)
    page = officer.get("/AuditEvent?_count=2").json()
    assert len(page["entry"]) == 2
    following = next(x["url"] for x in page["link"] if x["relation"] == "next")
    assert following.startswith(f"{BASE}/AuditEvent?") and "_offset=2" in following
    assert officer.get(following.removeprefix(BASE)).json()["entry"]
