"""Issue #15, tried as an attacker would: two obstetric practices (A and B), the JGZ, VoorZorg Consult.
Each scenario of "Found" is a test here: the sender makes only the sender's moves, a sender's data stays
the sender's, only the JGZ handles sharing consents, updates need a version, and the trust boundaries
(forwarded headers, token lifetime, malformed claims, unauthenticated operations) hold."""

from __future__ import annotations

import copy
import json
import time
from typing import Any

import jwt
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response

from adapter.config import Settings
from adapter.mapping.ids import consult_ids
from adapter.security.tokens import IssuerKey
from adapter.store.engine import Store
from adapter.workflows.sharing import summary_id
from tests.api.helpers import FF, set_bool
from tests.conftest import FHIR_JSON_HEADERS, bearer
from tests.security.helpers import (
    AGB,
    ORG_A,
    REFUSED,
    address,
    anonymous,
    client_as,
    last_at,
    of_type,
    post_referral,
    refusal,
    set_requester_org,
)

ORG_B = f"{AGB}|09077777"
#: The scopes the README registers an obstetric practice with, plus reading its referral's client.
README_SCOPE = "system/ServiceRequest.crs system/Task.rus system/GuidanceResponse.rs system/Patient.rs"
CONSULT_ORG = "http://fhir.nl/fhir/NamingSystem/ura|00000001"
OWN_ITEM = "https://fhir.voorzorg.nl/CodeSystem/voorzorg-referral-item"


def practice(app: FastAPI, settings: Settings, organization: str, scope: str = README_SCOPE) -> TestClient:
    return client_as(
        app,
        settings,
        role="obstetric",
        scope=scope,
        organization=organization,
        client_id=f"practice-{organization.rsplit('|', 1)[1]}",
    )


def jgz(app: FastAPI, settings: Settings) -> TestClient:
    return client_as(app, settings)


def of_b(referral: dict[str, Any], number: str = "B-0001") -> dict[str, Any]:
    """The same woman (same BSN) referred by practice B in its own name."""
    mine = copy.deepcopy(referral)
    set_requester_org(mine, ORG_B)
    for e in mine["entry"]:
        r = e["resource"]
        if r["resourceType"] == "ServiceRequest":
            r["identifier"][0]["value"] = number
            e["request"].pop("ifNoneExist", None)
        if r["resourceType"] == "Patient":
            r["name"] = [{"family": "Bakker", "given": ["Bea"]}]
            r["telecom"] = [{"system": "phone", "value": "0612345678"}]
    return mine


def put(c: TestClient, resource: dict[str, Any], version: str | None = None) -> Response:
    headers = {**FHIR_JSON_HEADERS, **({"If-Match": version} if version else {})}
    return c.put(
        f"/{resource['resourceType']}/{resource['id']}", content=json.dumps(resource), headers=headers
    )


def read(c: TestClient, reference: str) -> tuple[dict[str, Any], str]:
    r = c.get(f"/{reference}")
    assert r.status_code == 200, r.text
    return r.json(), r.headers["etag"]


@pytest.fixture
def on_hold(app: FastAPI, settings: Settings, referral: dict[str, Any]) -> dict[str, Any]:
    """A's referral waiting for VoorZorg Consult (a forced framework): its Task on-hold."""
    set_bool(referral, FF, True)
    r = post_referral(practice(app, settings, ORG_A), referral)
    assert r.status_code == 200, r.text
    assert of_type(r.json(), "Task")["status"] == "on-hold"
    return dict(r.json())


@pytest.fixture
def sent(app: FastAPI, settings: Settings, referral: dict[str, Any]) -> dict[str, Any]:
    r = post_referral(practice(app, settings, ORG_A), referral)
    assert r.status_code == 200, r.text
    return dict(r.json())


# --- 1. the sender makes the sender's moves only ----------------------------------------------------
@pytest.mark.parametrize("target", ["accepted", "in-progress", "rejected"])
def test_the_sender_cannot_make_the_receivers_moves(
    target: str, app: FastAPI, settings: Settings, on_hold: dict[str, Any]
) -> None:
    a = practice(app, settings, ORG_A)
    task_id = of_type(on_hold, "Task")["id"]
    task, etag = read(a, f"Task/{task_id}")
    out = refusal(put(a, {**task, "status": target}, etag), 403)
    assert out["issue"][0]["expression"] == ["Task.status"], out
    assert read(jgz(app, settings), f"Task/{task_id}")[0]["status"] == "on-hold"


def test_the_sender_may_cancel_its_own_referral_and_add_a_note(
    app: FastAPI, settings: Settings, on_hold: dict[str, Any]
) -> None:
    a = practice(app, settings, ORG_A)
    task, etag = read(a, f"Task/{of_type(on_hold, 'Task')['id']}")
    noted = put(a, {**task, "note": [{"text": "Zij verhuist in mei."}]}, etag)
    assert noted.status_code == 200, noted.text
    task, etag = noted.json(), noted.headers["etag"]
    cancelled = put(a, {**task, "status": "cancelled"}, etag)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"


@pytest.mark.parametrize("element", ["code", "for", "focus", "owner", "requester", "basedOn"])
def test_what_a_task_is_about_never_changes(
    element: str, app: FastAPI, settings: Settings, on_hold: dict[str, Any]
) -> None:
    """Not by the sender (relabelling it a consult request, repointing it to another client) and not by
    the JGZ either."""
    values: dict[str, Any] = {
        "code": {"coding": [{"system": OWN_ITEM, "code": "voorzorg-consult-request"}]},
        "for": {"reference": "Patient/someone-else"},
        "focus": {"reference": "ServiceRequest/another-referral"},
        "owner": {"identifier": {"system": CONSULT_ORG.split("|")[0], "value": CONSULT_ORG.split("|")[1]}},
        "requester": {"reference": "Organization/another"},
        "basedOn": [{"reference": "ServiceRequest/another-referral"}],
    }
    task_id = of_type(on_hold, "Task")["id"]
    for who in (practice(app, settings, ORG_A), jgz(app, settings)):
        task, etag = read(who, f"Task/{task_id}")
        out = refusal(put(who, {**task, element: values[element]}, etag), 422)
        assert [i["expression"] for i in out["issue"]] == [[f"Task.{element}"]], out
    consult = client_as(app, settings, role="consult", scope="system/*.rs", organization=CONSULT_ORG)
    assert consult.get(f"/Task/{task_id}").status_code == 404


@pytest.mark.parametrize(
    ("element", "value"),
    [
        ("status", "completed"),
        ("status", "accepted"),
        ("code", {"coding": [{"system": OWN_ITEM, "code": "voorzorg-consult-request"}]}),
        ("for", {"reference": "Patient/someone-else"}),
        ("focus", {"reference": "ServiceRequest/another-referral"}),
    ],
)
def test_intake_refuses_a_sent_task_that_says_what_is_not_the_senders(
    element: str, value: Any, app: FastAPI, settings: Settings, referral: dict[str, Any], store: Store
) -> None:
    task = next(e["resource"] for e in referral["entry"] if e["resource"]["resourceType"] == "Task")
    task[element] = value
    out = refusal(post_referral(practice(app, settings, ORG_A), referral), 422)
    assert [x for i in out["issue"] for x in i.get("expression", [])] == [
        f"Bundle.entry[10].resource.{element}"
    ]
    assert jgz(app, settings).get("/Task").json()["total"] == 0  # nothing taken in


# --- 2. a sender's data stays the sender's ----------------------------------------------------------
def _patient_entry(bundle: dict[str, Any]) -> dict[str, Any]:
    return next(e for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")


def test_b_learns_nothing_and_changes_nothing_by_sending_a_known_bsn(
    app: FastAPI, settings: Settings, sent: dict[str, Any], referral: dict[str, Any]
) -> None:
    a, b, j = practice(app, settings, ORG_A), practice(app, settings, ORG_B), jgz(app, settings)
    a_patient = _patient_entry(sent)["resource"]
    client = of_type(sent, "ServiceRequest")["subject"]["reference"]
    before_a, before_jgz = read(a, f"Patient/{a_patient['id']}"), read(j, client)

    r = post_referral(b, of_b(referral))
    assert r.status_code == 200, r.text
    entry = _patient_entry(r.json())
    assert entry["response"]["status"] == "201 Created" and entry["response"]["etag"] == 'W/"1"', entry
    assert entry["resource"]["name"][0]["family"] == "Bakker"
    # the same client: B's referral is about her
    assert of_type(r.json(), "ServiceRequest")["subject"]["reference"] == client
    # what A and the JGZ read did not change
    assert read(a, f"Patient/{a_patient['id']}") == before_a
    assert read(j, client) == before_jgz
    # B reads none of A's versions
    for path in (f"Patient/{a_patient['id']}", f"Patient/{a_patient['id']}/_history/1", client):
        assert b.get(f"/{path}").status_code == 404, path
    assert b.get(f"/Patient/{a_patient['id']}/_history").status_code == 404


def test_bs_answers_are_the_same_whether_or_not_she_is_known(
    app: FastAPI, settings: Settings, referral: dict[str, Any]
) -> None:
    """Two practices' first referrals: B's for a woman nobody referred, C's for the woman A referred.
    Every entry answers alike (status, version), and neither finds more than its own copy."""
    org_c = f"{AGB}|09088888"
    assert post_referral(practice(app, settings, ORG_A), referral).status_code == 200
    unknown = of_b(referral, "B-1")
    for e in unknown["entry"]:
        if e["resource"]["resourceType"] == "Patient":
            e["resource"]["identifier"][0]["value"] = "999911132"  # another valid BSN: nobody's client
    known = of_b(referral, "C-1")
    set_requester_org(known, org_c)
    b, c = practice(app, settings, ORG_B), practice(app, settings, org_c)
    first, second = post_referral(b, unknown), post_referral(c, known)
    assert first.status_code == second.status_code == 200

    def shape(r: Response) -> list[tuple[str, str, str]]:
        return [
            (e["resource"]["resourceType"], e["response"]["status"], e["response"]["etag"])
            for e in r.json()["entry"]
        ]

    assert shape(first) == shape(second)
    for who in (b, c):
        found = who.get("/Patient").json()
        assert found["total"] == 1 and found["entry"][0]["resource"]["name"][0]["family"] == "Bakker"
        assert who.get(f"/Patient/{found['entry'][0]['resource']['id']}/_history").json()["total"] == 1


def test_an_organization_changes_only_by_itself(
    app: FastAPI, settings: Settings, sent: dict[str, Any], referral: dict[str, Any]
) -> None:
    b = practice(app, settings, ORG_B, scope="system/*.cruds")
    a_org = of_type(sent, "Organization")
    before = read(jgz(app, settings), f"Organization/{a_org['id']}")
    hostile = of_b(referral)
    hostile["entry"].append(
        {
            "fullUrl": "urn:uuid:5d0c3a4e-1b7f-4f3a-9b64-2b6f0b0a0099",
            "resource": {
                "resourceType": "Organization",
                "identifier": [{"system": AGB, "value": ORG_A.rsplit("|", 1)[1]}],
                "name": "Praktijk Overgenomen",
                "telecom": [{"system": "phone", "value": "0900-FRAUDE"}],
            },
            "request": {"method": "POST", "url": "Organization"},
        }
    )
    r = post_referral(b, hostile)
    assert r.status_code == 200, r.text
    assert read(jgz(app, settings), f"Organization/{a_org['id']}") == before
    assert before[0]["name"] == "Verloskundigenpraktijk De Wieg"
    mine = practice(app, settings, ORG_A, scope="system/*.rs")
    assert mine.get(f"/Organization/{a_org['id']}").json()["name"] == "Verloskundigenpraktijk De Wieg"
    assert b.get(f"/Organization/{a_org['id']}").status_code == 404


def test_referral_numbers_are_per_sender(
    app: FastAPI, settings: Settings, sent: dict[str, Any], referral: dict[str, Any]
) -> None:
    """B uses A's number: a referral of B's own, answered as any new referral; A's is untouched."""
    b = practice(app, settings, ORG_B)
    a_sr = of_type(sent, "ServiceRequest")
    r = post_referral(b, of_b(referral, a_sr["identifier"][0]["value"]))
    assert r.status_code == 200, r.text
    b_sr = next(e for e in r.json()["entry"] if e["resource"]["resourceType"] == "ServiceRequest")
    assert b_sr["response"]["status"] == "201 Created"
    assert b_sr["resource"]["id"] != a_sr["id"]
    assert read(jgz(app, settings), f"ServiceRequest/{a_sr['id']}")[1] == 'W/"1"'


# --- 3. sharing consents are the JGZ's --------------------------------------------------------------
def _sharing_consent(patient: str) -> dict[str, Any]:
    from tests.api.test_sharing import _consent

    return _consent(patient)


def test_the_obstetric_role_neither_withdraws_nor_records_sharing_consents(
    app: FastAPI, settings: Settings, sent: dict[str, Any], store: Store
) -> None:
    a = practice(app, settings, ORG_A, scope="system/*.cruds")
    j = jgz(app, settings)
    client = of_type(sent, "ServiceRequest")["subject"]["reference"]
    r = j.post("/Consent", content=json.dumps(_sharing_consent(client)), headers=FHIR_JSON_HEADERS)
    assert r.status_code == 201, r.text
    consent = r.json()
    assert j.get(f"/EpisodeOfCare/{summary_id(client)}").status_code == 200
    assert a.get(f"/Consent/{consent['id']}").status_code == 404
    withdrawn = put(a, {**consent, "status": "inactive"}, r.headers["etag"])
    out = refusal(withdrawn, 403)
    assert "Jansen" not in withdrawn.text and consent["id"] not in json.dumps(out)
    assert read(j, f"Consent/{consent['id']}")[0]["status"] == "active"
    refusal(a.post("/Consent", content=json.dumps(_sharing_consent(client)), headers=FHIR_JSON_HEADERS), 403)
    assert last_at(store, "POST /Consent")["outcome"] == REFUSED


@pytest.mark.parametrize(("scope", "status"), [("patient-privacy", 422), ("treatment", 403)])
def test_a_referral_carries_no_sharing_consent(
    scope: str, status: int, app: FastAPI, settings: Settings, referral: dict[str, Any]
) -> None:
    """A sharing consent is no part of the referral contract (422); dressed as the voluntary-participation
    Consent it would still be read as her consent to share with the OZKS: 403, nothing stored."""
    sharing = _sharing_consent("urn:uuid:5d0c3a4e-1b7f-4f3a-9b64-2b6f0b0a0001")
    sharing["scope"]["coding"][0]["code"] = scope
    del sharing["meta"]
    referral["entry"].append(
        {
            "fullUrl": "urn:uuid:5d0c3a4e-1b7f-4f3a-9b64-2b6f0b0a0098",
            "resource": sharing,
            "request": {"method": "POST", "url": "Consent"},
        }
    )
    out = refusal(post_referral(practice(app, settings, ORG_A, scope="system/*.cruds"), referral), status)
    where = f"Bundle.entry[{len(referral['entry']) - 1}]"
    assert all(x.startswith(where) for i in out["issue"] for x in i["expression"]), out
    assert jgz(app, settings).get("/Task").json()["total"] == 0
    assert jgz(app, settings).get("/EpisodeOfCare").json()["total"] == 0


# --- 4. versioned writes ----------------------------------------------------------------------------
def test_an_update_without_if_match_is_428(app: FastAPI, settings: Settings, on_hold: dict[str, Any]) -> None:
    j = jgz(app, settings)
    task, _ = read(j, f"Task/{of_type(on_hold, 'Task')['id']}")
    out = refusal(put(j, {**task, "status": "accepted"}), 428)
    assert "If-Match" in out["issue"][0]["diagnostics"]
    assert read(j, f"Task/{task['id']}")[0]["status"] == "on-hold"


# --- 5. trust boundaries ----------------------------------------------------------------------------
def test_forwarded_headers_count_only_from_trusted_proxies(
    app: FastAPI, settings: Settings, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server as `serve` runs it believes no X-Forwarded-For by itself (uvicorn would, from
    127.0.0.1); the gate reads it only from the proxies in VOORZORG_TRUSTED_PROXIES (default none)."""
    import uvicorn

    from adapter.cli import main

    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(kw))
    monkeypatch.setenv("VOORZORG_DATA_DIR", str(settings.data_dir))
    assert main(["serve"]) == 0
    assert seen["proxy_headers"] is False
    local = TestClient(app, headers=bearer(settings), client=("127.0.0.1", 50000))
    for forwarded in ("203.0.113.9", "<script>"):
        local.get("/Patient", headers={"X-Forwarded-For": forwarded})
        assert address(last_at(store, "GET /Patient")) == "127.0.0.1"


def test_forwarded_address_from_a_trusted_proxy(store: Store, tmp_path: Any) -> None:
    from dataclasses import replace

    from adapter.api.app import create_app

    settings = replace(
        Settings(data_dir=tmp_path, base_url="http://testserver"), trusted_proxies=("10.0.0.0/24",)
    )
    proxy = TestClient(create_app(settings, store), headers=bearer(settings), client=("10.0.0.2", 50000))
    proxy.get("/Patient", headers={"X-Forwarded-For": "198.51.100.7, 203.0.113.9, 10.0.0.7"})
    assert address(last_at(store, "GET /Patient")) == "203.0.113.9"  # the nearest hop not a proxy
    for forwarded in ("<script>", "203.0.113.9, <script>"):
        proxy.get("/Patient", headers={"X-Forwarded-For": forwarded})
        assert address(last_at(store, "GET /Patient")) == "10.0.0.2"  # not an address: the proxy's own
    with pytest.raises(ValueError, match="VOORZORG_TRUSTED_PROXIES"):
        Settings.from_env({"VOORZORG_TRUSTED_PROXIES": "10.0.0.0/24, proxy.example"})


def _signed(settings: Settings, **over: Any) -> dict[str, str]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": settings.issuer,
        "sub": "x",
        "client_id": "x",
        "aud": settings.effective_audience,
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "jti": "j",
        "scope": "system/*.cruds",
        "voorzorg_role": "obstetric",
        "organization": ORG_A,
    }
    claims.update(over)
    key = IssuerKey(settings.issuer_key_path)
    token = jwt.encode(claims, key.private_key, algorithm="ES256", headers={"kid": key.kid})
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": int(time.time()) + 100 * 365 * 86400},
        {"organization": [ORG_A, ORG_B]},
        {"organization": {"system": AGB}},
        {"organization": "09012345"},
        {"voorzorg_role": ["jgz"]},
        {"scope": ["system/*.cruds"]},
        {"client_id": 12},
        {"act": "someone"},
    ],
    ids=[
        "100-years",
        "org-list",
        "org-object",
        "org-without-system",
        "role-list",
        "scope-list",
        "client-int",
        "act-str",
    ],
)
def test_a_long_lived_or_malformed_token_is_401_and_audited(
    claims: dict[str, Any], app: FastAPI, settings: Settings, store: Store
) -> None:
    r = anonymous(app).get("/Patient", headers=_signed(settings, **claims))
    refusal(r, 401)
    assert last_at(store, "GET /Patient")["outcome"] == REFUSED


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/PlanDefinition/x/$validate"),
        ("GET", "/CodeSystem/x/$validate"),
        ("POST", "/PlanDefinition/$validate"),
    ],
)
def test_unauthenticated_operations_are_401_and_audited(
    method: str, path: str, app: FastAPI, store: Store
) -> None:
    r = anonymous(app).request(method, path, content=b"{}", headers=FHIR_JSON_HEADERS)
    refusal(r, 401)
    assert "Traceback" not in r.text
    assert last_at(store, f"{method} {path}")["outcome"] == REFUSED


def test_consult_ids_are_not_guessable_into_access(
    app: FastAPI, settings: Settings, on_hold: dict[str, Any]
) -> None:
    """The consult request made for A's referral is the JGZ's question: A does not see it."""
    sr = of_type(on_hold, "ServiceRequest")["id"]
    _consult_sr, consult_task = consult_ids(sr, "1")
    a = practice(app, settings, ORG_A)
    assert a.get(f"/Task/{consult_task}").status_code == 404
    assert jgz(app, settings).get(f"/Task/{consult_task}").status_code == 200


def test_history_and_vread_never_show_another_referrers_version(
    store: Store, referral: dict[str, Any]
) -> None:
    """A version B wrote of a resource A has a part in (say, a record both referred to) is not A's to see:
    A's history leaves it out (and counts without it), its vread is 404; the JGZ sees every version."""
    from adapter.fhir.outcome import FhirError
    from adapter.security.access import Viewer
    from adapter.security.audit import Access, Actor
    from adapter.security.principal import Principal
    from adapter.workflows import reading

    def acting(organization: str) -> Store:
        who = Principal(client_id="p", role="obstetric", organization=organization)
        return store.acting_for(Actor(who, Access(), "PUT /x", "http://testserver"))

    body = {"resourceType": "Organization", "id": "shared", "name": "v1"}
    acting(ORG_A).write(lambda s: (s.put(body), s.grant("Organization", "shared", ORG_A)))
    acting(ORG_B).write(lambda s: s.put({**body, "name": "v2 by B"}))
    store.write(lambda s: s.put({**body, "name": "v3 by the JGZ"}))
    a = Viewer(Principal(client_id="a", role="obstetric", organization=ORG_A))
    page, _ = reading.history(store, a, "Organization", "shared", None, 10)
    assert (page.total, [v.version_id for v in page.found]) == (2, [3, 1])
    with pytest.raises(FhirError) as hidden:
        reading.vread(store, a, "Organization", "shared", "2")
    assert hidden.value.status == 404
    assert reading.vread(store, a, "Organization", "shared", "1").content["name"] == "v1"
    everything, _ = reading.history(store, Viewer.everything(), "Organization", "shared", None, 10)
    assert everything.total == 3


def test_existing_keys_move_into_their_senders_numbering(tmp_path: Any) -> None:
    """Migration 0005_sec: a referral number (and a practice's records) stored before keys had owners
    takes the one organisation that has a part in it; the client's BSN stays in the shared key space."""
    from pathlib import Path

    from alembic import command
    from alembic.config import Config
    from sqlalchemy import text

    import adapter.store.engine as engine_module

    store = Store(f"sqlite:///{tmp_path / 'old.db'}")
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(engine_module.__file__).parent / "migrations"))
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0004")
        conn.execute(
            text(
                "INSERT INTO business_key VALUES "
                "('ServiceRequest', 'urn:n', 'VZ-1', 'sr-1'), ('Patient', 'bsn', '999911120', 'p-1'), "
                "('Organization', 'agb', '1', 'o-1')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO resource_access VALUES ('ServiceRequest', 'sr-1', :a), ('Patient', 'p-1', :a), "
                "('Organization', 'o-1', :a), ('Organization', 'o-1', :b)"
            ),
            {"a": ORG_A, "b": ORG_B},
        )
    store.migrate()
    with store.reading() as s:
        assert s.find_key("ServiceRequest", "urn:n", "VZ-1", ORG_A) == "sr-1"
        assert s.find_key("ServiceRequest", "urn:n", "VZ-1") is None
        assert s.find_key("Patient", "bsn", "999911120") == "p-1"
        assert s.find_key("Organization", "agb", "1") == "o-1"  # two had a part: shared, as it was
    store.dispose()
