"""A trusted external authorisation server: its JWKS (served by a real HTTP server) decides."""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI
from jwt.algorithms import ECAlgorithm
from pytest_httpserver import HTTPServer

from adapter.api.app import create_app
from adapter.config import Settings
from adapter.store.engine import Store
from tests.conftest import JGZ_ORGANIZATION
from tests.security.helpers import REFUSED, SUCCESS, anonymous, client_id, last_at, refusal

ISSUER = "https://as.example.test"


class Key:
    def __init__(self) -> None:
        self.private = ec.generate_private_key(ec.SECP256R1())
        self.kid = f"as-{uuid.uuid4().hex[:8]}"

    def jwks(self) -> dict[str, Any]:
        jwk: dict[str, Any] = json.loads(ECAlgorithm.to_jwk(self.private.public_key()))
        jwk.update({"kid": self.kid, "alg": "ES256", "use": "sig"})
        return {"keys": [jwk]}

    def token(self, settings: Settings, **over: Any) -> str:
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "sub": "external-client",
            "client_id": "external-client",
            "aud": settings.effective_audience,
            "iat": now,
            "exp": now + 300,
            "scope": "system/*.rs",
            "voorzorg_role": "jgz",
            "organization": JGZ_ORGANIZATION,
            **over,
        }
        return jwt.encode(claims, self.private, algorithm="ES256", headers={"kid": self.kid})


def serve(httpserver: HTTPServer, jwks: dict[str, Any]) -> None:
    httpserver.clear()
    httpserver.expect_request("/jwks").respond_with_json(jwks)


@pytest.fixture
def settings(tmp_path: Path, httpserver: HTTPServer) -> Settings:
    return Settings(
        data_dir=tmp_path, base_url="http://testserver", trusted_issuers={ISSUER: httpserver.url_for("/jwks")}
    )


def _get(app: FastAPI, token: str) -> Any:
    return anonymous(app).get("/Patient", headers={"Authorization": f"Bearer {token}"})


def test_a_token_of_the_trusted_issuer_is_accepted(
    app: FastAPI, settings: Settings, httpserver: HTTPServer, store: Store
) -> None:
    key = Key()
    serve(httpserver, key.jwks())
    r = _get(app, key.token(settings))
    assert r.status_code == 200, r.text
    event = last_at(store, "GET /Patient")
    assert event["outcome"] == SUCCESS
    assert client_id(event) == "external-client"


@pytest.mark.parametrize(
    "claims",
    [{"aud": "https://other.example"}, {"exp": 1_000_000}, {"iss": "https://as.example.test/other"}],
    ids=["wrong-aud", "expired", "other-issuer"],
)
def test_a_token_of_the_trusted_issuer_with_bad_claims_is_refused(
    claims: dict[str, Any], app: FastAPI, settings: Settings, httpserver: HTTPServer, store: Store
) -> None:
    key = Key()
    serve(httpserver, key.jwks())
    r = _get(app, key.token(settings, **claims))
    assert r.status_code == 401, r.text
    assert last_at(store, "GET /Patient")["outcome"] == REFUSED


def test_a_token_signed_by_another_key_with_the_issuers_kid_is_refused(
    app: FastAPI, settings: Settings, httpserver: HTTPServer
) -> None:
    key, forger = Key(), Key()
    forger.kid = key.kid
    serve(httpserver, key.jwks())
    assert _get(app, forger.token(settings)).status_code == 401
    assert _get(app, key.token(settings)).status_code == 200  # the genuine key still works


def test_a_token_whose_kid_the_issuer_does_not_serve_is_refused(
    app: FastAPI, settings: Settings, httpserver: HTTPServer, store: Store
) -> None:
    old, new = Key(), Key()
    serve(httpserver, new.jwks())  # the issuer rotated to a new key before this server saw the old one
    r = _get(app, old.token(settings))
    assert r.status_code == 401, r.text
    assert "Bearer" in r.headers["www-authenticate"]
    assert last_at(store, "GET /Patient")["outcome"] == REFUSED


def test_after_a_key_change_a_new_server_refuses_the_old_token(
    tmp_path: Path, settings: Settings, httpserver: HTTPServer, store: Store
) -> None:
    old, new = Key(), Key()
    serve(httpserver, old.jwks())
    token = old.token(settings)
    assert _get(create_app(settings, store), token).status_code == 200
    serve(httpserver, new.jwks())
    assert _get(create_app(settings, store), token).status_code == 401
    assert _get(create_app(settings, store), new.token(settings)).status_code == 200


def test_the_running_server_keeps_the_jwks_for_the_cache_time_not_per_request(
    app: FastAPI, settings: Settings, httpserver: HTTPServer
) -> None:
    key = Key()
    serve(httpserver, key.jwks())
    for _ in range(3):
        assert _get(app, key.token(settings)).status_code == 200
    assert len(httpserver.log) == 1  # the issuer is not asked once per request


@pytest.mark.parametrize(
    ("cache_seconds", "wait"),
    [(0.2, 0.3), (0, 0)],
    ids=["once-the-cache-has-expired", "at-once-without-a-cache"],
)
def test_a_key_the_issuer_withdraws_is_refused(
    cache_seconds: float, wait: float, settings: Settings, httpserver: HTTPServer, store: Store
) -> None:
    old, new = Key(), Key()
    configured = dataclasses.replace(settings, jwks_cache_seconds=cache_seconds)
    app = create_app(configured, store)
    serve(httpserver, old.jwks())
    token = old.token(configured)
    assert _get(app, token).status_code == 200
    serve(httpserver, new.jwks())
    time.sleep(wait)  # past the cache time (not a timing assertion: the key is refused, however slow)
    assert _get(app, token).status_code == 401
    assert last_at(store, "GET /Patient")["outcome"] == REFUSED
    assert _get(app, new.token(configured)).status_code == 200


def test_the_jwks_cache_time_is_configured_and_never_negative() -> None:
    assert Settings.from_env({"VOORZORG_JWKS_CACHE_SECONDS": "0"}).jwks_cache_seconds == 0
    assert Settings.from_env({}).jwks_cache_seconds == 60
    with pytest.raises(ValueError, match="VOORZORG_JWKS_CACHE_SECONDS"):
        Settings.from_env({"VOORZORG_JWKS_CACHE_SECONDS": "-1"})


def test_the_issuer_being_unreachable_is_a_refusal_not_an_error(tmp_path: Path, store: Store) -> None:
    settings = Settings(
        data_dir=tmp_path, base_url="http://testserver", trusted_issuers={ISSUER: "http://127.0.0.1:9/jwks"}
    )
    r = _get(create_app(settings, store), Key().token(settings))
    refusal(r, 401)
    assert r.headers["www-authenticate"].startswith("Bearer"), r.headers
    assert 'error="invalid_token"' in r.headers["www-authenticate"]


def test_an_untrusted_issuer_is_never_fetched(
    app: FastAPI, settings: Settings, httpserver: HTTPServer
) -> None:
    key = Key()
    serve(httpserver, key.jwks())
    r = _get(app, key.token(settings, iss="https://evil.example"))
    assert r.status_code == 401
    assert len(httpserver.log) == 0
