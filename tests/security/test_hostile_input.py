"""Hostile or careless input and deployment: no client data in logs, CORS closed by default, security
headers, no internals in a 500, nesting and injection, and authentication off only when asked for."""

from __future__ import annotations

import copy
import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from adapter.api.app import create_app
from adapter.config import Settings
from adapter.store.engine import Store
from tests.conftest import FHIR_JSON_HEADERS
from tests.security.helpers import (
    BSN,
    NAMES,
    anonymous,
    client_as,
    client_id,
    install_failing_trigger,
    last_at,
    of_type,
    post_referral,
    refusal,
    remove_failing_trigger,
)

CLI = str(Path(sys.executable).parent / "voorzorg-adapter")
INVALID_BSN = "999911121"  # fails the 11-test
INTERNALS = (
    "Traceback",
    'File "',
    "sqlalchemy",
    "sqlite",
    "psycopg",
    "INSERT",
    "SELECT",
    "injected",
    "res_type",
    "resource_version",
)


@pytest.fixture
def jgz(app: FastAPI, settings: Settings) -> TestClient:
    return client_as(app, settings)


@pytest.fixture
def failing_insert(store: Store) -> Iterator[Store]:
    install_failing_trigger(store)
    yield store
    remove_failing_trigger(store)


# --- logs ---------------------------------------------------------------------------------------------
@pytest.fixture
def all_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Every logger at DEBUG, the way an operator chasing a problem might run it."""
    caplog.set_level(logging.DEBUG)
    for name in list(logging.root.manager.loggerDict):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def _logged(caplog: pytest.LogCaptureFixture) -> str:
    formatter = logging.Formatter()
    out = []
    for record in caplog.records:
        if record.name.startswith(("httpx", "httpcore")):
            continue  # the test's own HTTP client logging its request URLs: not the application
        out.append(record.getMessage())
        if record.exc_info:
            out.append(formatter.formatException(record.exc_info))
        if record.stack_info:
            out.append(record.stack_info)
    return "\n".join(out)


def _assert_no_client_data(caplog: pytest.LogCaptureFixture, *also: str) -> None:
    text = _logged(caplog)
    for secret in (BSN, *NAMES, *also):
        assert secret not in text, (
            f"{secret!r} in the logs: ...{text[max(0, text.find(secret) - 200) :][:400]}"
        )


def _with_bsn(referral: dict[str, Any], bsn: str) -> dict[str, Any]:
    out = copy.deepcopy(referral)
    for e in out["entry"]:
        if e["resource"]["resourceType"] == "Patient":
            e["resource"]["identifier"][0]["value"] = bsn
    return out


def test_no_client_data_in_the_logs_of_an_intake_at_info(
    caplog: pytest.LogCaptureFixture, jgz: TestClient, referral: dict[str, Any]
) -> None:
    """Every logger at INFO: SQLAlchemy then logs each statement, with its bound values hidden."""
    caplog.set_level(logging.INFO)
    for name in list(logging.root.manager.loggerDict):
        caplog.set_level(logging.INFO, logger=name)
    r = post_referral(jgz, referral)
    assert r.status_code == 200, r.text
    assert jgz.get(f"/Patient?identifier={BSN}").json()["total"] == 1
    assert any(rec.name.startswith("sqlalchemy") for rec in caplog.records)  # SQL logging was on
    _assert_no_client_data(caplog)


def test_no_client_data_in_the_logs_of_an_intake(
    all_logs: pytest.LogCaptureFixture, jgz: TestClient, referral: dict[str, Any]
) -> None:
    r = post_referral(jgz, referral)
    assert r.status_code == 200, r.text
    assert jgz.get(f"/Patient?identifier={BSN}").json()["total"] == 1
    _assert_no_client_data(all_logs)


def test_no_client_data_in_the_voorzorg_logs_of_an_intake(
    all_logs: pytest.LogCaptureFixture, jgz: TestClient, referral: dict[str, Any]
) -> None:
    """The adapter's own loggers (and the web server's) at DEBUG: no BSN, no name."""
    assert post_referral(jgz, referral).status_code == 200
    assert post_referral(jgz, _with_bsn(referral, INVALID_BSN)).status_code == 422
    own = [r for r in all_logs.records if not r.name.startswith("sqlalchemy")]
    all_logs.records[:] = own
    _assert_no_client_data(all_logs, INVALID_BSN)


def test_no_client_data_in_the_logs_of_a_refused_intake(
    all_logs: pytest.LogCaptureFixture, jgz: TestClient, referral: dict[str, Any]
) -> None:
    """Refused before the database is touched: the invalid BSN and the name must not reach any log."""
    r = post_referral(jgz, _with_bsn(referral, INVALID_BSN))
    assert r.status_code == 422, r.text
    _assert_no_client_data(all_logs, INVALID_BSN)


def test_no_client_data_in_the_logs_of_a_server_error(
    failing_insert: Store, all_logs: pytest.LogCaptureFixture, jgz: TestClient, referral: dict[str, Any]
) -> None:
    r = post_referral(jgz, referral)
    assert r.status_code == 500
    assert any(rec.levelno >= logging.ERROR for rec in all_logs.records)  # the failure is logged...
    own = [r for r in all_logs.records if not r.name.startswith("sqlalchemy")]
    all_logs.records[:] = own
    _assert_no_client_data(all_logs)  # ...without the client


# --- a 500 says nothing about the inside --------------------------------------------------------------
def test_a_server_error_is_an_operation_outcome_without_internals(
    failing_insert: Store, jgz: TestClient, referral: dict[str, Any]
) -> None:
    r = post_referral(jgz, referral)
    assert r.status_code == 500
    assert r.headers["content-type"].startswith("application/fhir+json")
    outcome = r.json()
    assert outcome["resourceType"] == "OperationOutcome"
    for word in INTERNALS:
        assert word.lower() not in r.text.lower(), word
    for secret in (BSN, *NAMES):
        assert secret not in r.text


def test_a_server_error_carries_the_security_headers(
    failing_insert: Store, jgz: TestClient, referral: dict[str, Any]
) -> None:
    r = post_referral(jgz, referral)
    assert r.status_code == 500
    assert r.headers.get("x-content-type-options") == "nosniff"
    assert r.headers.get("cache-control") == "no-store"


# --- security headers -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("who", "path", "status"),
    [
        ("jgz", "/Patient", 200),
        ("jgz", "/Patient/nope", 404),
        ("jgz", "/AuditEvent", 403),
        ("anonymous", "/Patient", 401),
        ("anonymous", "/metadata", 200),
        ("anonymous", "/.well-known/smart-configuration", 200),
        ("anonymous", "/auth/jwks", 200),
        ("jgz", "/no/such/endpoint/here", 404),
    ],
)
def test_security_headers_on_every_answer(
    who: str, path: str, status: int, app: FastAPI, settings: Settings
) -> None:
    c = client_as(app, settings) if who == "jgz" else anonymous(app)
    r = c.get(path)
    assert r.status_code == status, r.text
    assert r.headers.get("x-content-type-options") == "nosniff"
    assert r.headers.get("cache-control") == "no-store"
    assert r.headers.get("x-frame-options") == "DENY"


# --- CORS ---------------------------------------------------------------------------------------------
def _preflight(c: TestClient, origin: str) -> Any:
    return c.options(
        "/Patient",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "Authorization",
        },
    )


def test_cors_is_closed_by_default(app: FastAPI, settings: Settings) -> None:
    assert settings.cors_origins == ()
    c = client_as(app, settings)
    for origin in ("https://app.example", "https://evil.example", "null"):
        r = c.get("/Patient", headers={"Origin": origin})
        assert r.status_code == 200
        assert "access-control-allow-origin" not in r.headers
        assert "access-control-allow-credentials" not in r.headers
        pre = _preflight(anonymous(app), origin)
        assert "access-control-allow-origin" not in pre.headers
        assert pre.status_code != 200 or "access-control-allow-methods" not in pre.headers


def test_cors_is_open_only_for_configured_origins(settings: Settings, store: Store) -> None:
    open_settings = replace(settings, cors_origins=("https://app.example",))
    app = create_app(open_settings, store)
    c = client_as(app, open_settings)
    ok = c.get("/Patient", headers={"Origin": "https://app.example"})
    assert ok.headers.get("access-control-allow-origin") == "https://app.example"
    pre = _preflight(anonymous(app), "https://app.example")
    assert pre.status_code == 200
    assert pre.headers.get("access-control-allow-origin") == "https://app.example"
    assert "GET" in pre.headers.get("access-control-allow-methods", "")
    for origin in ("https://evil.example", "https://app.example.evil.example", "http://app.example", "null"):
        r = c.get("/Patient", headers={"Origin": origin})
        assert r.headers.get("access-control-allow-origin") in (None, "https://app.example"), origin
        assert r.headers.get("access-control-allow-origin") != origin
        assert "access-control-allow-origin" not in _preflight(anonymous(app), origin).headers
    assert ok.headers.get("access-control-allow-origin") != "*"


# --- nesting, size, injection ------------------------------------------------------------------------
def _nested(depth: int) -> str:
    return '{"resourceType":"Bundle","type":"transaction","entry":' + "[" * depth + "]" * depth + "}"


@pytest.mark.parametrize("depth", [100, 5000, 200_000])
@pytest.mark.parametrize("path", ["/", "/$check-eligibility"])
def test_deeply_nested_json_is_a_400(
    depth: int, path: str, jgz: TestClient, store: Store, settings: Settings
) -> None:
    body = _nested(depth)
    if len(body) > settings.max_body_bytes:
        pytest.skip("larger than the body limit (413 is covered separately)")
    r = jgz.post(path, content=body, headers=FHIR_JSON_HEADERS)
    assert r.status_code == 400, r.text[:500]
    assert r.json()["resourceType"] == "OperationOutcome"
    assert last_at(store, f"POST {path}")["outcome"] == "4"


def test_deeply_nested_json_in_a_task_update_is_a_400(jgz: TestClient) -> None:
    body = '{"resourceType":"Task","id":"x","note":' + "[" * 3000 + "]" * 3000 + "}"
    r = jgz.put("/Task/x", content=body, headers=FHIR_JSON_HEADERS)
    out = refusal(r, 400)
    assert [(i["code"], i["diagnostics"]) for i in out["issue"]] == [
        ("too-costly", "The JSON is nested deeper than 64 levels")
    ]


def test_a_body_over_the_limit_is_a_413(jgz: TestClient, settings: Settings) -> None:
    body = json.dumps({"resourceType": "Bundle", "type": "transaction", "pad": "x" * settings.max_body_bytes})
    r = jgz.post("/", content=body, headers=FHIR_JSON_HEADERS)
    out = refusal(r, 413)
    assert [i["code"] for i in out["issue"]] == ["too-costly"], out
    assert jgz.get("/Task").json()["total"] == 0


INJECTIONS = [
    "' OR 1=1--",
    "' OR '1'='1",
    '" OR ""="',
    "1; DROP TABLE resource;--",
    "%' OR 1=1 OR '%'='",
    "x') UNION SELECT content FROM audit_event--",
    "\\' OR 1=1 --",
]


@pytest.mark.parametrize("value", INJECTIONS)
@pytest.mark.parametrize(
    ("rtype", "param"),
    [
        ("Patient", "identifier"),
        ("Patient", "family"),
        ("Patient", "_id"),
        ("Task", "status"),
        ("Observation", "code"),
        ("ServiceRequest", "subject"),
    ],
)
def test_injection_looking_search_values_find_nothing(
    value: str, rtype: str, param: str, jgz: TestClient, referral: dict[str, Any]
) -> None:
    assert post_referral(jgz, referral).status_code == 200
    assert jgz.get(f"/{rtype}").json()["total"] >= 1  # there is something that "everything" would return
    r = jgz.get(f"/{rtype}", params={param: value})
    assert r.status_code in (200, 400), r.text
    if r.status_code == 200:
        assert r.json()["total"] == 0, r.text[:300]
        assert r.json().get("entry", []) == []
    else:
        assert r.json()["resourceType"] == "OperationOutcome"
        assert "syntax" not in r.text.lower() and "sql" not in r.text.lower()
    assert jgz.get(f"/{rtype}").json()["total"] >= 1  # and nothing was dropped


def test_injection_in_the_audit_patient_parameter_finds_nothing(
    app: FastAPI, settings: Settings, jgz: TestClient, referral: dict[str, Any]
) -> None:
    from tests.security.helpers import privacy_officer

    assert post_referral(jgz, referral).status_code == 200
    officer = privacy_officer(app, settings)
    for value in INJECTIONS:
        r = officer.get("/AuditEvent", params={"patient": value})
        assert r.status_code == 200, r.text
        assert r.json()["total"] == 0, value
    assert officer.get("/AuditEvent").json()["total"] >= 1


def test_an_injection_looking_id_is_a_404(jgz: TestClient, referral: dict[str, Any]) -> None:
    assert post_referral(jgz, referral).status_code == 200
    for value in ("' OR 1=1--", "1 OR 1=1"):
        assert jgz.get(f"/Patient/{value}").status_code == 404
        assert jgz.get(f"/Patient/{value}/_history").status_code == 404


# --- authentication off only when asked for --------------------------------------------------------
def test_authentication_is_on_by_default() -> None:
    assert Settings().insecure_no_auth is False
    env = {
        "VOORZORG_INSECURE_NO_AUTH": "1",
        "VOORZORG_INSECURE_DEV_NO_AUTH": "true",
        "VOORZORG_NO_AUTH": "1",
    }
    assert Settings.from_env(env).insecure_no_auth is False  # no environment variable turns it off


def test_the_default_app_refuses_a_request_without_token(tmp_path: Path, store: Store) -> None:
    app = create_app(Settings(data_dir=tmp_path), store)
    r = anonymous(app).get("/Patient")
    refusal(r, 401)
    assert r.headers["www-authenticate"].startswith("Bearer"), r.headers
    assert "entry" not in r.json()


def test_insecure_no_auth_accepts_requests_without_a_token_and_still_audits(
    settings: Settings, store: Store, referral: dict[str, Any]
) -> None:
    app = create_app(replace(settings, insecure_no_auth=True), store)
    c = anonymous(app)
    r = post_referral(c, referral)
    assert r.status_code == 200, r.text
    pid = of_type(r.json(), "Patient")["id"]
    assert c.get(f"/Patient/{pid}").status_code == 200
    event = last_at(store, f"GET /Patient/{pid}")
    assert client_id(event) == "insecure-dev-no-auth"
    assert c.get("/AuditEvent").status_code == 403  # still not the audit log


def test_serve_help_documents_the_insecure_flag() -> None:
    run = subprocess.run([CLI, "serve", "--help"], capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 0, run.stderr
    text = " ".join(run.stdout.split())
    assert "--insecure-dev-no-auth" in text
    assert "DEVELOPMENT ONLY" in text
    assert "without a token" in text
