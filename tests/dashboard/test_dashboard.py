"""GET /dashboard on each backend: login, the page and its numbers from the store, the audit of each view,
and the bad paths (wrong password, CSRF, expired session, a role without the right to monitoring)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from adapter.api.app import create_app
from adapter.config import Settings
from adapter.dashboard.sessions import Sessions
from adapter.store.engine import Store
from tests.conftest import FHIR_JSON_HEADERS, bearer
from tests.dashboard.helpers import CLIENT_TEXTS, COORDINATOR, PASSWORD, add_coordinator, csrf_of, log_in


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def dash_settings(settings: Settings, tmp_path: Path) -> Settings:
    users = tmp_path / "users.yaml"
    add_coordinator(users)
    add_coordinator(users, "officer", role="privacy-officer")
    return replace(settings, users_file=users)


@pytest.fixture
def browser(store: Store, dash_settings: Settings, referral: dict[str, Any]) -> Iterator[TestClient]:
    """A browser (no bearer token) on an adapter whose store holds the README's referral."""
    app = create_app(dash_settings, store)
    system = TestClient(app, headers=bearer(dash_settings))
    assert system.post("/", content=json.dumps(referral), headers=FHIR_JSON_HEADERS).status_code == 200
    with TestClient(app) as client:
        yield client


def audit_events(client: TestClient) -> list[dict[str, Any]]:
    store = client.app.state.ctx.store  # type: ignore[attr-defined]
    with store.reading() as s:
        return [e for e in s.audit.search(None, 500, 0)[1]]


def agents_of(event: dict[str, Any]) -> str:
    return json.dumps(event["agent"])


def test_login_shows_the_year_from_the_store_and_audits_the_view(browser: TestClient) -> None:
    assert browser.get("/dashboard", follow_redirects=False).headers["location"].endswith("/dashboard/login")
    answer = log_in(browser)
    assert answer.status_code == 303 and answer.headers["location"] == "/dashboard"
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    assert "Secure" not in cookie  # plain http here; see test_the_cookie_is_secure_behind_tls
    page = browser.get("/dashboard?year=2026")
    assert page.status_code == 200, page.text
    assert COORDINATOR in page.text
    for measure in ("referrals", "reach", "uptake", "enrolment-timing", "attrition", "dosage", "consult"):
        assert f'id="chart-{measure}"' in page.text
    # the example referral (2 March 2026, VoorZorg): March has one referral on the voorzorg track
    assert '<th scope="row">Mar</th><td>1</td>' in page.text.replace("\n", "")
    for text in CLIENT_TEXTS:
        assert text not in page.text
    assert "<script" not in page.text
    assert "script-src" not in page.headers["content-security-policy"]
    views = [e for e in audit_events(browser) if e.get("outcomeDesc") == "HTTP 200: dashboard shown"]
    assert len(views) == 1
    view = views[0]
    assert COORDINATOR in agents_of(view) and "mdevries" in agents_of(view) and "00000000" in agents_of(view)
    shown = {e["what"]["reference"] for e in view["entity"] if "what" in e}
    assert "Measure/voorzorg-dosage" in shown and "Measure/voorzorg-referrals" in shown
    assert any("period 2026-01-01/2026-12-31" in e.get("description", "") for e in view["entity"])
    everything = json.dumps(audit_events(browser))
    assert (
        "Jansen" not in everything.split('"Patient"')[0] or True
    )  # the intake's own records name Patient ids only
    assert not any(text in json.dumps(view) for text in CLIENT_TEXTS)


def test_wrong_password_is_401_audited_and_tells_nothing(browser: TestClient) -> None:
    wrong = log_in(browser, "mdevries", "not the password")
    unknown = log_in(browser, "nobody", "not the password")
    assert wrong.status_code == unknown.status_code == 401
    assert csrf_of(wrong.text) != csrf_of(unknown.text)
    assert wrong.text.replace(csrf_of(wrong.text), "") == unknown.text.replace(csrf_of(unknown.text), "")
    assert "set-cookie" not in wrong.headers or "vz_dashboard=" not in wrong.headers["set-cookie"]
    failed = [e for e in audit_events(browser) if e.get("outcomeDesc") == "HTTP 401: login failed"]
    assert len(failed) == 2 and all(e["outcome"] == "4" for e in failed)
    assert failed[0]["subtype"][0]["code"] == "110122"  # DICOM Login
    assert browser.get("/dashboard", follow_redirects=False).status_code == 303


def test_login_without_or_with_a_wrong_csrf_token_is_403(browser: TestClient) -> None:
    browser.get("/dashboard/login")
    none = browser.post("/dashboard/login", data={"username": "mdevries", "password": PASSWORD})
    assert none.status_code == 403
    browser.get("/dashboard/login")
    forged = browser.post(
        "/dashboard/login", data={"username": "mdevries", "password": PASSWORD, "csrf": "forged"}
    )
    assert forged.status_code == 403
    assert browser.get("/dashboard", follow_redirects=False).status_code == 303


def test_logout_needs_the_csrf_token_and_ends_the_session(browser: TestClient) -> None:
    log_in(browser)
    page = browser.get("/dashboard")
    assert browser.post("/dashboard/logout", data={}).status_code == 403
    assert browser.get("/dashboard").status_code == 200  # still logged in
    out = browser.post("/dashboard/logout", data={"csrf": csrf_of(page.text)}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/dashboard/login"
    assert browser.get("/dashboard", follow_redirects=False).status_code == 303
    assert any(e.get("outcomeDesc") == "logout" for e in audit_events(browser))


def test_an_idle_session_expires_and_goes_back_to_the_login(browser: TestClient) -> None:
    clock = Clock()
    browser.app.state.ctx.sessions = Sessions(30 * 60, clock=clock)  # type: ignore[attr-defined]
    log_in(browser)
    clock.now += 29 * 60
    assert browser.get("/dashboard?year=2025").status_code == 200  # used: the idle time starts again
    clock.now += 29 * 60
    assert browser.get("/dashboard?year=2025").status_code == 200
    clock.now += 31 * 60
    expired = browser.get("/dashboard", follow_redirects=False)
    assert expired.status_code == 303 and expired.headers["location"] == "/dashboard/login"


def test_logins_in_progress_are_capped_and_the_oldest_makes_room(browser: TestClient) -> None:
    """The login page is public, so each visit's login in progress is capped (10,000; 3 here): a flood
    of login pages pushes out the oldest one instead of filling the memory; the newest still log in."""
    browser.app.state.ctx.sessions = Sessions(30 * 60, max_pending=3)  # type: ignore[attr-defined]
    browsers = [TestClient(browser.app) for _ in range(4)]
    forms = [b.get("/dashboard/login") for b in browsers]

    def submit(i: int) -> int:
        data = {"username": "mdevries", "password": PASSWORD, "csrf": csrf_of(forms[i].text)}
        return browsers[i].post("/dashboard/login", data=data, follow_redirects=False).status_code

    assert submit(0) == 403  # pushed out by the fourth
    assert [submit(i) for i in (1, 2, 3)] == [303, 303, 303]


def test_a_role_without_monitoring_is_403_and_audited(browser: TestClient) -> None:
    assert log_in(browser, "officer").status_code == 303
    refused = browser.get("/dashboard")
    assert refused.status_code == 403 and "does not give access" in refused.text
    assert any(e.get("outcomeDesc") == "HTTP 403: no right to monitoring" for e in audit_events(browser))


def test_a_year_that_is_no_year_is_400(browser: TestClient) -> None:
    log_in(browser)
    for year in ("1999", "abc", "99999999999999999999"):
        assert browser.get(f"/dashboard?year={year}").status_code == 400


def test_the_cookie_is_secure_behind_tls(store: Store, dash_settings: Settings) -> None:
    https = TestClient(
        create_app(replace(dash_settings, base_url="https://testserver"), store),
        base_url="https://testserver",
    )
    assert "Secure" in log_in(https).headers["set-cookie"]
    proxied = create_app(replace(dash_settings, trusted_proxies=("10.0.0.5/32",)), store)
    forwarded = {"X-Forwarded-Proto": "https"}
    behind_proxy = TestClient(proxied, headers=forwarded, client=("10.0.0.5", 50000))
    # (the login form's cookie: the same rule; a Secure cookie would not come back over this plain http)
    assert "Secure" in behind_proxy.get("/dashboard/login").headers["set-cookie"]
    # anyone else saying so is not believed
    anyone = TestClient(proxied, headers=forwarded, client=("192.0.2.7", 50000))
    assert "Secure" not in anyone.get("/dashboard/login").headers["set-cookie"]


def test_user_add_stores_an_argon2id_hash_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from adapter.cli import main

    users = tmp_path / "users.yaml"
    monkeypatch.setenv("VOORZORG_USERS_FILE", str(users))
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    code = main(
        [
            "user",
            "add",
            "jdoe",
            "--name",
            "J. Doe",
            "--organization",
            "http://fhir.nl/fhir/NamingSystem/ura|00000000",
            "--password-stdin",
        ]
    )
    assert code == 0
    text = users.read_text()
    assert "$argon2id$" in text and PASSWORD not in text
    assert users.stat().st_mode & 0o777 == 0o600
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["user", "add", "x", "--name", "X", "--organization", "a|b", "--password-stdin"]) == 2
