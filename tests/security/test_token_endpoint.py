"""The embedded authorisation server: SMART Backend Services (client_credentials + private_key_jwt),
its discovery documents, and `voorzorg-adapter token`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI
from fastapi.testclient import TestClient
from jwt.algorithms import ECAlgorithm

from adapter.config import Settings
from adapter.store.engine import Store
from tests.security.helpers import (
    HAVE_FORM_PARSER,
    NO_FORM_PARSER,
    ORG_A,
    REFUSED,
    SUCCESS,
    anonymous,
    b64json,
    client_id,
    events_at,
    interaction,
    on_behalf_of,
)

CLI = str(Path(sys.executable).parent / "voorzorg-adapter")
CLIENT = "de-wieg"
REGISTERED_SCOPE = "system/ServiceRequest.cr system/Task.rus"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
form_parsing = pytest.mark.xfail(not HAVE_FORM_PARSER, strict=True, reason=NO_FORM_PARSER)


class ClientKey:
    def __init__(self) -> None:
        self.private = ec.generate_private_key(ec.SECP256R1())
        self.kid = f"k-{uuid.uuid4().hex[:8]}"

    def jwk(self) -> dict[str, Any]:
        jwk: dict[str, Any] = json.loads(ECAlgorithm.to_jwk(self.private.public_key()))
        jwk.update({"kid": self.kid, "alg": "ES256", "use": "sig"})
        return jwk


@pytest.fixture
def client_key() -> ClientKey:
    return ClientKey()


@pytest.fixture
def settings(tmp_path: Path, client_key: ClientKey) -> Settings:
    """The shared settings, with a client registry holding practice De Wieg's public key."""
    registry = tmp_path / "registry" / "clients.yaml"
    registry.parent.mkdir()
    registry.write_text(
        yaml.safe_dump(
            {
                "clients": {
                    CLIENT: {
                        "role": "obstetric",
                        "organization": ORG_A,
                        "scope": REGISTERED_SCOPE,
                        "jwks": {"keys": [client_key.jwk()]},
                    },
                    "reader": {
                        "role": "jgz",
                        "organization": "http://fhir.nl/fhir/NamingSystem/ura|00000000",
                        "scope": "system/*.rs",
                        "jwks": {"keys": [client_key.jwk()]},
                    },
                }
            }
        ),
        encoding="utf-8",
    )
    return Settings(data_dir=tmp_path, base_url="http://testserver", clients_file=registry)


def token_url(settings: Settings) -> str:
    return f"{settings.base_url}/auth/token"


def assertion(
    settings: Settings,
    key: ClientKey,
    *,
    client: str = CLIENT,
    iss: str | None = None,
    sub: str | None = None,
    aud: str | None = None,
    lifetime: int = 240,
    jti: str | None = None,
    kid: str | None = None,
) -> str:
    now = int(time.time())
    claims = {
        "iss": iss or client,
        "sub": sub or client,
        "aud": aud or token_url(settings),
        "exp": now + lifetime,
        "iat": now,
        "jti": jti or str(uuid.uuid4()),
    }
    return jwt.encode(claims, key.private, algorithm="ES256", headers={"kid": kid or key.kid})


def request_token(c: TestClient, signed: str, scope: str = "system/Task.rs", **extra: str) -> Any:
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": signed,
        "scope": scope,
        **extra,
    }
    return c.post("/auth/token", data=form)


def _last_token_event(store: Store) -> dict[str, Any]:
    found = events_at(store, "POST /auth/token")
    assert found, "the token request left no AuditEvent"
    return found[-1]


# --- discovery, open without a token ----------------------------------------------------------------
def test_smart_configuration_is_open(app: FastAPI, settings: Settings) -> None:
    r = anonymous(app).get("/.well-known/smart-configuration")
    assert r.status_code == 200, r.text
    config = r.json()
    assert config["token_endpoint"] == token_url(settings)
    assert config["jwks_uri"] == f"{settings.base_url}/auth/jwks"
    assert config["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]
    assert "client_credentials" in config["grant_types_supported"]
    algs = config["token_endpoint_auth_signing_alg_values_supported"]
    assert "none" not in algs and not any(a.startswith("HS") for a in algs)


def test_metadata_is_open(app: FastAPI) -> None:
    r = anonymous(app).get("/metadata")
    assert r.status_code == 200, r.text
    assert r.json()["resourceType"] == "CapabilityStatement"


def test_the_issuer_jwks_is_open_and_holds_no_private_part(app: FastAPI) -> None:
    r = anonymous(app).get("/auth/jwks")
    assert r.status_code == 200
    keys = r.json()["keys"]
    assert len(keys) == 1 and keys[0]["kty"] == "EC"
    assert "d" not in keys[0]


# --- client_credentials with private_key_jwt ----------------------------------------------------------
@form_parsing
def test_a_correct_assertion_gets_a_token_with_the_granted_scopes_only(
    app: FastAPI, settings: Settings, client_key: ClientKey, store: Store
) -> None:
    c = anonymous(app)
    r = request_token(c, assertion(settings, client_key), scope="system/Task.rs system/Patient.rs")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"].lower() == "bearer"
    assert body["scope"] == "system/Task.rs"  # Patient.rs is not registered for this client
    assert body["expires_in"] == settings.token_lifetime
    assert "no-store" in r.headers["cache-control"]
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["voorzorg_role"] == "obstetric"
    assert claims["organization"] == ORG_A
    assert claims["exp"] - claims["iat"] == settings.token_lifetime

    auth = {"Authorization": f"Bearer {body['access_token']}"}
    assert c.get("/Task", headers=auth).status_code == 200
    assert c.get("/Patient", headers=auth).status_code == 403  # not granted
    assert c.get("/ServiceRequest", headers=auth).status_code == 403  # registered, not requested

    event = _last_token_event(store)
    assert interaction(event) == "token"
    assert event["outcome"] == SUCCESS
    assert client_id(event) == CLIENT
    assert on_behalf_of(event) == ORG_A


@form_parsing
def test_a_wildcard_registration_covers_a_specific_scope(
    app: FastAPI, settings: Settings, client_key: ClientKey
) -> None:
    r = request_token(anonymous(app), assertion(settings, client_key, client="reader"), "system/Patient.rs")
    assert r.status_code == 200, r.text
    assert r.json()["scope"] == "system/Patient.rs"
    r = request_token(anonymous(app), assertion(settings, client_key, client="reader"), "system/*.cruds")
    assert r.status_code == 400 and r.json()["error"] == "invalid_scope"


@form_parsing
def test_a_replayed_assertion_is_refused(
    app: FastAPI, settings: Settings, client_key: ClientKey, store: Store
) -> None:
    c = anonymous(app)
    signed = assertion(settings, client_key)
    assert request_token(c, signed).status_code == 200
    again = request_token(c, signed)
    assert again.status_code == 401, again.text
    assert again.json()["error"] == "invalid_client"
    assert "access_token" not in again.json()
    event = _last_token_event(store)
    assert event["outcome"] == REFUSED
    # a new jti with the same key is fine
    assert request_token(c, assertion(settings, client_key)).status_code == 200


def _bad_assertions(settings: Settings, key: ClientKey) -> dict[str, str]:
    other = ClientKey()
    now = int(time.time())
    base = {"iss": CLIENT, "sub": CLIENT, "aud": token_url(settings), "exp": now + 120, "jti": "x1"}
    no_jti = {k: v for k, v in base.items() if k != "jti"}
    return {
        "wrong-aud": assertion(settings, key, aud="http://testserver/other"),
        "aud-is-base-url": assertion(settings, key, aud=settings.base_url),
        "unknown-client": assertion(settings, key, client="nobody"),
        "iss-not-sub": assertion(settings, key, sub="reader"),
        "lives-too-long": assertion(settings, key, lifetime=3600),
        "expired": assertion(settings, key, lifetime=-600),
        "other-key-same-kid": assertion(settings, other, kid=key.kid),
        "other-key-unknown-kid": assertion(settings, other),
        "no-jti": jwt.encode(no_jti, key.private, algorithm="ES256", headers={"kid": key.kid}),
        "alg-none": f"{b64json({'alg': 'none'})}.{b64json(base)}.",
        "hs256": jwt.encode(base, "secret", algorithm="HS256", headers={"kid": key.kid}),
        "garbage": "not.a.jwt",
    }


BAD = [
    "wrong-aud",
    "aud-is-base-url",
    "unknown-client",
    "iss-not-sub",
    "lives-too-long",
    "expired",
    "other-key-same-kid",
    "other-key-unknown-kid",
    "no-jti",
    "alg-none",
    "hs256",
    "garbage",
]


@form_parsing
@pytest.mark.parametrize("case", BAD)
def test_a_bad_assertion_is_refused_with_401_invalid_client(
    case: str, app: FastAPI, settings: Settings, client_key: ClientKey, store: Store
) -> None:
    r = request_token(anonymous(app), _bad_assertions(settings, client_key)[case])
    assert r.status_code == 401, r.text
    assert r.json()["error"] == "invalid_client"
    assert "access_token" not in r.json()
    event = _last_token_event(store)
    assert interaction(event) == "token"
    assert event["outcome"] == REFUSED


@form_parsing
def test_a_scope_that_is_not_registered_is_refused_with_400_invalid_scope(
    app: FastAPI, settings: Settings, client_key: ClientKey
) -> None:
    for scope in ("system/Patient.rs", "system/Task.cruds", "system/*.rs", "", "openid"):
        r = request_token(anonymous(app), assertion(settings, client_key), scope=scope)
        assert r.status_code == 400, (scope, r.text)
        assert r.json()["error"] == "invalid_scope"
        assert "access_token" not in r.json()


@form_parsing
def test_a_refused_scope_is_audited_as_refused(
    app: FastAPI, settings: Settings, client_key: ClientKey, store: Store
) -> None:
    r = request_token(anonymous(app), assertion(settings, client_key), scope="system/Patient.rs")
    assert r.status_code == 400
    event = _last_token_event(store)
    assert event["outcome"] == REFUSED
    assert event["outcomeDesc"] != "token issued"


@form_parsing
@pytest.mark.parametrize(
    ("fields", "status", "error"),
    [
        ({"grant_type": "password"}, 400, "unsupported_grant_type"),
        ({"client_assertion_type": "urn:other"}, 401, "invalid_client"),
        ({"client_assertion": ""}, 401, "invalid_client"),
    ],
)
def test_malformed_token_requests_are_refused(
    fields: dict[str, str], status: int, error: str, app: FastAPI, settings: Settings, client_key: ClientKey
) -> None:
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": assertion(settings, client_key),
        "scope": "system/Task.rs",
        **fields,
    }
    r = anonymous(app).post("/auth/token", data=form)
    assert r.status_code == status, r.text
    assert r.json()["error"] == error


@form_parsing
@pytest.mark.parametrize("alg", ["RS256", "PS256"])
def test_an_rsa_algorithm_on_an_ec_client_key_is_refused_with_401(
    alg: str, app: FastAPI, settings: Settings, client_key: ClientKey
) -> None:
    _, payload, sig = assertion(settings, client_key).split(".")
    relabelled = f"{b64json({'alg': alg, 'kid': client_key.kid})}.{payload}.{sig}"
    r = request_token(anonymous(app), relabelled)
    assert r.status_code == 401, r.text
    assert r.json()["error"] == "invalid_client"


# --- `voorzorg-adapter token` ---------------------------------------------------------------------------
def _cli_token(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "VOORZORG_DATA_DIR": str(settings.data_dir),
        "VOORZORG_BASE_URL": settings.base_url,
    }
    if settings.clients_file:
        env["VOORZORG_CLIENTS_FILE"] = str(settings.clients_file)
    return subprocess.run(
        [CLI, "token", *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_the_cli_token_works_as_a_bearer_token(app: FastAPI, settings: Settings, store: Store) -> None:
    run = _cli_token(settings, "--client", "x", "--role", "jgz", "--scope", "system/Task.rs")
    assert run.returncode == 0, run.stderr
    token = run.stdout.strip()
    c = anonymous(app)
    auth = {"Authorization": f"Bearer {token}"}
    assert c.get("/Task", headers=auth).status_code == 200
    assert c.get("/Patient", headers=auth).status_code == 403  # only the scope asked for
    assert client_id(events_at(store, "GET /Task")[-1]) == "x"


def test_the_cli_token_of_a_registered_client_carries_its_role_and_organisation(
    app: FastAPI, settings: Settings
) -> None:
    run = _cli_token(settings, "--client", CLIENT, "--scope", "system/Task.rs")
    assert run.returncode == 0, run.stderr
    claims = jwt.decode(run.stdout.strip(), options={"verify_signature": False})
    assert claims["voorzorg_role"] == "obstetric"
    assert claims["organization"] == ORG_A
    assert (
        anonymous(app).get("/Task", headers={"Authorization": f"Bearer {run.stdout.strip()}"}).json()["total"]
        == 0
    )


def test_the_cli_refuses_an_unknown_role(settings: Settings) -> None:
    run = _cli_token(settings, "--client", "x", "--scope", "system/*.rs")
    assert run.returncode == 2
    assert run.stdout.strip() == ""
    run = _cli_token(settings, "--client", "x", "--role", "root", "--scope", "system/*.rs")
    assert run.returncode == 2


def test_a_cli_token_for_another_base_url_is_refused(app: FastAPI, settings: Settings) -> None:
    """Same key, other audience: the server checks `aud`."""
    from dataclasses import replace

    run = _cli_token(
        replace(settings, base_url="http://elsewhere"),
        "--client",
        "x",
        "--role",
        "jgz",
        "--scope",
        "system/*.rs",
    )
    assert run.returncode == 0, run.stderr
    r = anonymous(app).get("/Task", headers={"Authorization": f"Bearer {run.stdout.strip()}"})
    assert r.status_code == 401
