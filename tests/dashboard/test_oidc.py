"""Login at the organisation's identity provider: a real HTTP identity provider (pytest-httpserver) with
discovery, an authorize endpoint, a token endpoint that checks the PKCE verifier against the S256
challenge it was given, and a JWKS; the adapter verifies the ID token (signature, issuer, audience,
nonce) and ties the answer to the login this browser started (state)."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from adapter.api.app import create_app
from adapter.config import Settings
from adapter.store.engine import Store

CLIENT_ID, SECRET = "voorzorg-dashboard", "idp-client-secret"


@dataclass
class IdentityProvider:
    server: HTTPServer
    key: Any = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    claims: dict[str, Any] = field(
        default_factory=lambda: {"sub": "u-4711", "name": "Marieke de Vries", "voorzorg_role": "jgz"}
    )
    codes: dict[str, dict[str, str]] = field(default_factory=dict)
    verified: list[str] = field(default_factory=list)
    nonce: str | None = None  # set: the ID token carries this nonce instead of the login's

    @property
    def issuer(self) -> str:
        return self.server.url_for("/").rstrip("/")

    def install(self) -> None:
        s = self.server
        s.expect_request("/.well-known/openid-configuration").respond_with_json(
            {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/jwks",
                "response_types_supported": ["code"],
                "code_challenge_methods_supported": ["S256"],
            }
        )
        jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.key.public_key()))
        s.expect_request("/jwks").respond_with_json(
            {"keys": [{**jwk, "kid": "idp-1", "alg": "ES256", "use": "sig"}]}
        )
        s.expect_request("/authorize").respond_with_handler(self.authorize)
        s.expect_request("/token", method="POST").respond_with_handler(self.token)

    def authorize(self, request: Request) -> Response:
        q = request.args
        assert q["response_type"] == "code" and q["client_id"] == CLIENT_ID
        assert q["code_challenge_method"] == "S256" and len(q["code_challenge"]) == 43
        code = f"code-{len(self.codes)}"
        self.codes[code] = {k: q[k] for k in ("code_challenge", "nonce", "redirect_uri")}
        return Response(
            status=302,
            headers={"Location": f"{q['redirect_uri']}?{urlencode({'code': code, 'state': q['state']})}"},
        )

    def token(self, request: Request) -> Response:
        form = request.form
        expected = "Basic " + base64.b64encode(f"{CLIENT_ID}:{SECRET}".encode()).decode()
        if request.headers.get("Authorization") != expected:
            return Response(json.dumps({"error": "invalid_client"}), 401, content_type="application/json")
        login = self.codes.pop(form.get("code", ""), None)
        if (
            login is None
            or form.get("grant_type") != "authorization_code"
            or form.get("redirect_uri") != login["redirect_uri"]
        ):
            return Response(json.dumps({"error": "invalid_grant"}), 400, content_type="application/json")
        digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
        if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != login["code_challenge"]:
            return Response(
                json.dumps({"error": "invalid_grant", "error_description": "PKCE"}),
                400,
                content_type="application/json",
            )
        self.verified.append(form["code_verifier"])
        now = int(time.time())
        claims = {
            **self.claims,
            "iss": self.issuer,
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 300,
            "nonce": self.nonce or login["nonce"],
        }
        id_token = jwt.encode(claims, self.key, algorithm="ES256", headers={"kid": "idp-1"})
        return Response(
            json.dumps({"id_token": id_token, "access_token": "x", "token_type": "Bearer"}),
            200,
            content_type="application/json",
        )


@pytest.fixture
def idp(httpserver: HTTPServer) -> IdentityProvider:
    provider = IdentityProvider(httpserver)
    provider.install()
    return provider


@pytest.fixture
def browser(idp: IdentityProvider, settings: Settings, tmp_path: Path) -> Iterator[TestClient]:
    store = Store(f"sqlite:///{tmp_path / 'oidc.db'}")
    store.migrate()
    configured = replace(
        settings, oidc_issuer=idp.issuer, oidc_client_id=CLIENT_ID, oidc_client_secret=SECRET
    )
    with TestClient(create_app(configured, store)) as client:
        yield client
    store.dispose()


def round_trip(browser: TestClient, *, state: str | None = None) -> Any:
    """The browser's trip: the adapter sends it to the provider, the provider back with a code."""
    start = browser.get("/dashboard/login/oidc", follow_redirects=False)
    assert start.status_code == 303
    assert "SameSite=lax" in start.headers["set-cookie"].replace("Lax", "lax")
    back = requests.get(start.headers["location"], allow_redirects=False, timeout=10)
    assert back.status_code == 302
    target = urlsplit(back.headers["location"])
    query = parse_qs(target.query)
    if state is not None:
        query["state"] = [state]
    return browser.get(
        f"{target.path}?{urlencode({k: v[0] for k, v in query.items()})}", follow_redirects=False
    )


def test_oidc_login_with_pkce(browser: TestClient, idp: IdentityProvider) -> None:
    assert 'id="oidc-login"' in browser.get("/dashboard/login").text
    landed = round_trip(browser)
    assert landed.status_code == 200, landed.text
    assert 'http-equiv="refresh"' in landed.text  # a same-site step, so the Strict cookie goes along
    assert "SameSite=strict" in landed.headers["set-cookie"].replace("Strict", "strict")
    assert len(idp.verified) == 1  # the provider checked the verifier against the challenge
    page = browser.get("/dashboard?year=2026")
    assert page.status_code == 200 and "Marieke de Vries" in page.text


def test_a_state_that_is_not_this_logins_is_403(browser: TestClient, idp: IdentityProvider) -> None:
    assert round_trip(browser, state="forged").status_code == 403
    assert idp.verified == []
    assert browser.get("/dashboard", follow_redirects=False).status_code == 303


def test_an_id_token_with_another_nonce_is_refused(browser: TestClient, idp: IdentityProvider) -> None:
    idp.nonce = "replayed-from-another-login"
    assert round_trip(browser).status_code == 401
    assert browser.get("/dashboard", follow_redirects=False).status_code == 303


def test_an_id_token_signed_by_another_key_is_refused(browser: TestClient, idp: IdentityProvider) -> None:
    idp.key = ec.generate_private_key(ec.SECP256R1())  # the JWKS still says the old key
    assert round_trip(browser).status_code == 401


def test_a_person_whose_role_has_no_monitoring_is_403(browser: TestClient, idp: IdentityProvider) -> None:
    idp.claims["voorzorg_role"] = "obstetric"
    assert round_trip(browser).status_code == 200
    assert browser.get("/dashboard").status_code == 403
