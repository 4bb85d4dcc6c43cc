"""Token problems are refused with 401 and a WWW-Authenticate challenge, and every refusal is audited."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI

from adapter.config import Settings
from adapter.security.tokens import IssuerKey, mint
from adapter.store.engine import Store
from tests.conftest import JGZ_ORGANIZATION
from tests.security.helpers import REFUSED, SUCCESS, address, anonymous, b64json, b64url, client_id, last_at


def _claims(settings: Settings, **over: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": settings.issuer,
        "sub": "forger",
        "client_id": "forger",
        "aud": settings.effective_audience,
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "jti": "j-1",
        "scope": "system/*.cruds",
        "voorzorg_role": "jgz",
        "organization": JGZ_ORGANIZATION,
    }
    claims.update(over)
    return claims


def _key(settings: Settings) -> IssuerKey:
    return IssuerKey(settings.issuer_key_path)


def _mint(settings: Settings, **over: Any) -> str:
    args: dict[str, Any] = {
        "issuer": settings.issuer,
        "audience": settings.effective_audience,
        "client_id": "test-client",
        "scope": "system/*.cruds",
        "role": "jgz",
        "organization": JGZ_ORGANIZATION,
    }
    args.update(over)
    return mint(_key(settings), **args)


def expired(settings: Settings) -> str:
    return _mint(settings, now=int(time.time()) - 3600, lifetime=300)


def not_yet_valid(settings: Settings) -> str:
    return _mint(settings, now=int(time.time()) + 3600)


def wrong_audience(settings: Settings) -> str:
    return _mint(settings, audience="https://another-server.example")


def wrong_issuer(settings: Settings) -> str:
    """Signed with the adapter's own key, but claiming an issuer it does not trust."""
    return _mint(settings, issuer="https://evil.example/auth")


def bad_signature(settings: Settings) -> str:
    """Another EC P-256 key, presenting the embedded issuer's kid."""
    other = ec.generate_private_key(ec.SECP256R1())
    return jwt.encode(_claims(settings), other, algorithm="ES256", headers={"kid": _key(settings).kid})


def tampered_payload(settings: Settings) -> str:
    """A genuine token whose payload was changed afterwards (role escalated): the signature breaks."""
    token = _mint(settings, role="consult", scope="system/Task.rs")
    header, _, sig = token.split(".")
    return f"{header}.{b64json(_claims(settings))}.{sig}"


def alg_none(settings: Settings) -> str:
    return f"{b64json({'alg': 'none', 'typ': 'JWT'})}.{b64json(_claims(settings))}."


def alg_none_with_kid(settings: Settings) -> str:
    header = {"alg": "none", "typ": "JWT", "kid": _key(settings).kid}
    return f"{b64json(header)}.{b64json(_claims(settings))}.{b64url(b'x')}"


def _hs256(settings: Settings, secret: bytes) -> str:
    header = {"alg": "HS256", "typ": "JWT", "kid": _key(settings).kid}
    signing_input = f"{b64json(header)}.{b64json(_claims(settings))}"
    sig = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(sig)}"


def hs256_public_pem(settings: Settings) -> str:
    pem = (
        _key(settings)
        .private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return _hs256(settings, pem)


def hs256_public_jwk(settings: Settings) -> str:
    return _hs256(settings, json.dumps(_key(settings).public_jwk).encode())


def _relabelled(settings: Settings, alg: str) -> str:
    """A genuine ES256 token whose header names another algorithm of the allow-list."""
    _, payload, sig = _mint(settings).split(".")
    return f"{b64json({'alg': alg, 'typ': 'JWT', 'kid': _key(settings).kid})}.{payload}.{sig}"


def es384_header_on_es256_token(settings: Settings) -> str:
    return _relabelled(settings, "ES384")


def not_a_jwt(settings: Settings) -> str:
    return "not-a-jwt"


def missing_exp(settings: Settings) -> str:
    claims = _claims(settings)
    del claims["exp"]
    key = _key(settings)
    return jwt.encode(claims, key.private_key, algorithm="ES256", headers={"kid": key.kid})


BAD_TOKENS: list[Callable[[Settings], str]] = [
    expired,
    not_yet_valid,
    wrong_audience,
    wrong_issuer,
    bad_signature,
    tampered_payload,
    alg_none,
    alg_none_with_kid,
    hs256_public_pem,
    hs256_public_jwk,
    es384_header_on_es256_token,
    not_a_jwt,
    missing_exp,
]


def _assert_challenge(r: Any, error: str) -> None:
    assert r.status_code == 401, r.text
    challenge = r.headers.get("www-authenticate", "")
    assert challenge.startswith("Bearer"), r.headers
    assert f'error="{error}"' in challenge
    assert r.json()["resourceType"] == "OperationOutcome"


def test_a_valid_token_is_accepted_and_audited_as_success(
    app: FastAPI, settings: Settings, store: Store
) -> None:
    """The control: the same request with a good token passes, so the refusals below are about the token."""
    r = anonymous(app).get("/Patient", headers={"Authorization": f"Bearer {_mint(settings)}"})
    assert r.status_code == 200, r.text
    event = last_at(store, "GET /Patient")
    assert event["outcome"] == SUCCESS
    assert client_id(event) == "test-client"


@pytest.mark.parametrize("make", BAD_TOKENS, ids=lambda f: f.__name__)
def test_a_bad_token_is_refused_with_401_and_audited(
    make: Callable[[Settings], str], app: FastAPI, settings: Settings, store: Store
) -> None:
    r = anonymous(app).get("/Patient", headers={"Authorization": f"Bearer {make(settings)}"})
    _assert_challenge(r, "invalid_token")
    assert "Patient" not in json.dumps(r.json().get("entry", []))
    event = last_at(store, "GET /Patient")
    assert event["outcome"] == REFUSED
    assert event["outcomeDesc"] == "HTTP 401"
    assert client_id(event) == "anonymous"  # an unverified token names no one
    assert address(event) == "testclient"


@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer", "Bearer   ", "Basic dXNlcjpwYXNz", "Token abc"],
    ids=["absent", "empty", "bearer-only", "bearer-blank", "basic", "other-scheme"],
)
def test_no_bearer_token_is_refused_with_401_and_audited(
    header: str | None, app: FastAPI, store: Store
) -> None:
    headers = {} if header is None else {"Authorization": header}
    r = anonymous(app).get("/Task", headers=headers)
    _assert_challenge(r, "invalid_request")
    event = last_at(store, "GET /Task")
    assert event["outcome"] == REFUSED
    assert client_id(event) == "anonymous"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/"),
        ("POST", "/$check-eligibility"),
        ("GET", "/Task/anything"),
        ("GET", "/Patient/x/_history"),
        ("GET", "/Patient/x/_history/1"),
        ("GET", "/Patient/_history"),
        ("PUT", "/Task/x"),
        ("POST", "/Patient/_search"),
        ("GET", "/AuditEvent"),
        ("DELETE", "/Patient/x"),
    ],
)
def test_every_data_endpoint_needs_a_token(method: str, path: str, app: FastAPI, store: Store) -> None:
    r = anonymous(app).request(method, path, content=b"{}", headers={"Content-Type": "application/fhir+json"})
    _assert_challenge(r, "invalid_request")
    assert last_at(store, f"{method} {path}")["outcome"] == REFUSED


def test_the_refusal_text_does_not_echo_the_token(app: FastAPI, settings: Settings) -> None:
    token = bad_signature(settings)
    r = anonymous(app).get("/Patient", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401
    assert token not in r.text
    assert token.split(".")[1] not in r.text


@pytest.mark.parametrize("alg", ["RS256", "PS256"])
def test_an_rsa_algorithm_on_the_ec_issuer_is_refused_with_401(
    alg: str, app: FastAPI, settings: Settings, store: Store
) -> None:
    r = anonymous(app).get("/Patient", headers={"Authorization": f"Bearer {_relabelled(settings, alg)}"})
    _assert_challenge(r, "invalid_token")
    assert last_at(store, "GET /Patient")["outcome"] == REFUSED
