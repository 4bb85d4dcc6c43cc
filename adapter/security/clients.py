"""Registered clients of the embedded token endpoint, and SMART Backend Services client assertions.

A client authenticates with a JWT it signs with its own private key (`private_key_jwt`); we hold only
its public keys (JWKS) in the registry file (`VOORZORG_CLIENTS_FILE`, default `<data dir>/clients.yaml`):

    clients:
      de-wieg:
        role: obstetric
        organization: "http://fhir.nl/fhir/NamingSystem/agb-z|09012345"
        scope: "system/ServiceRequest.cr system/Task.rus"
        jwks: {keys: [{kty: EC, crv: P-256, x: ..., y: ..., kid: ...}]}
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import yaml

from adapter.fhir.limits import text_problem
from adapter.security.tokens import ALLOWED_ALGORITHMS, AuthError
from adapter.store.engine import Store

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MAX_ASSERTION_LIFETIME = 300
#: The longest client id + jti kept against replay (the column holds 255 characters).
MAX_JTI_LENGTH = 255


@dataclass(frozen=True)
class RegisteredClient:
    client_id: str
    role: str
    organization: str | None
    scope: str
    jwks: dict[str, Any]


def load_clients(path: Path) -> dict[str, RegisteredClient]:
    if not path.exists():
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {
        name: RegisteredClient(
            name, c["role"], c.get("organization"), c.get("scope", ""), c.get("jwks", {"keys": []})
        )
        for name, c in (data.get("clients") or {}).items()
    }


def verify_assertion(
    assertion: str, token_url: str, clients: dict[str, RegisteredClient], store: Store
) -> RegisteredClient:
    """The client whose signed assertion this is; AuthError when anything is off (or it is a replay)."""
    try:
        header = jwt.get_unverified_header(assertion)
        unverified = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise AuthError("client_assertion is not a well-formed JWT") from None
    if header.get("alg") not in ALLOWED_ALGORITHMS:
        raise AuthError(f"client_assertion algorithm {header.get('alg')!r} is not accepted")
    client = clients.get(str(unverified.get("iss")))
    if client is None or unverified.get("sub") != client.client_id:
        raise AuthError("unknown client (iss and sub must be the registered client id)")
    keys = jwt.PyJWKSet.from_dict(client.jwks).keys
    kid = header.get("kid")
    candidates = [k for k in keys if kid is None or k.key_id == kid]
    claims: dict[str, Any] | None = None
    for key in candidates:
        try:
            claims = jwt.decode(
                assertion,
                key.key,
                algorithms=[header["alg"]],
                audience=token_url,
                issuer=client.client_id,
                leeway=30,
                options={"require": ["exp", "iss", "sub", "aud", "jti"]},
            )
            break
        except jwt.InvalidSignatureError:
            continue
        except (jwt.PyJWTError, TypeError, ValueError) as e:  # TypeError: an RSA alg named for an EC key
            raise AuthError(f"client_assertion is not valid: {type(e).__name__}") from None
    if claims is None:
        raise AuthError("client_assertion signature does not verify with the client's registered keys")
    now = int(time.time())
    if int(claims["exp"]) > now + MAX_ASSERTION_LIFETIME:
        raise AuthError("client_assertion lives longer than 5 minutes")
    jti = f"{client.client_id}:{claims['jti']}"
    if len(jti) > MAX_JTI_LENGTH or text_problem(jti):  # kept in a column of 255 on both databases
        raise AuthError(f"client_assertion jti is not a string of at most {MAX_JTI_LENGTH} characters")
    if not store.write(lambda s: s.use_assertion(jti, int(claims["exp"]), now)):
        raise AuthError("client_assertion was used before (jti replay)")
    return client
