"""Bearer tokens: the embedded issuer's key pair, minting, and verification against trusted issuers.

Verification checks the signature with the issuer's key (its JWKS), `iss`, `aud`, `exp`/`nbf` with a
small clock skew, and an algorithm allow-list of asymmetric algorithms: `none` and HMAC never pass,
which also closes the classic public-key-as-HMAC-secret confusion.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
import uuid
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt import PyJWKClient
from jwt.algorithms import ECAlgorithm

from adapter.security.principal import Principal
from adapter.security.scopes import parse_scopes

ALLOWED_ALGORITHMS = ("ES256", "ES384", "RS256", "RS384", "PS256", "PS384")
LEEWAY_SECONDS = 30


class AuthError(Exception):
    """The token is not acceptable; the message says why (safe to return to the caller)."""


@dataclass
class IssuerKey:
    """The embedded issuer's EC P-256 key pair, kept in the data directory (created on first use)."""

    path: Path

    @cached_property
    def private_key(self) -> ec.EllipticCurvePrivateKey:
        if not self.path.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            key = ec.generate_private_key(ec.SECP256R1())
            pem = key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(pem)
        loaded = serialization.load_pem_private_key(self.path.read_bytes(), password=None)
        if not isinstance(loaded, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{self.path} does not hold an EC private key")
        return loaded

    @cached_property
    def public_jwk(self) -> dict[str, Any]:
        jwk: dict[str, Any] = json.loads(ECAlgorithm.to_jwk(self.private_key.public_key()))
        jwk.update({"use": "sig", "alg": "ES256", "kid": _thumbprint(jwk)})
        return jwk

    @property
    def kid(self) -> str:
        return str(self.public_jwk["kid"])

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.public_jwk]}


def _thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 thumbprint of an EC key: a stable key id."""
    canonical = json.dumps(
        {k: jwk[k] for k in ("crv", "kty", "x", "y")}, separators=(",", ":"), sort_keys=True
    )
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()


def mint(
    key: IssuerKey,
    *,
    issuer: str,
    audience: str,
    client_id: str,
    scope: str,
    role: str,
    organization: str | None,
    lifetime: int = 300,
    user: str | None = None,
    now: int | None = None,
) -> str:
    issued = int(time.time()) if now is None else now
    claims: dict[str, Any] = {
        "iss": issuer,
        "sub": client_id,
        "client_id": client_id,
        "aud": audience,
        "iat": issued,
        "nbf": issued,
        "exp": issued + lifetime,
        "jti": str(uuid.uuid4()),
        "scope": scope,
        "voorzorg_role": role,
    }
    if organization:
        claims["organization"] = organization
    if user:
        claims["act"] = {"sub": user}
    return jwt.encode(claims, key.private_key, algorithm="ES256", headers={"kid": key.kid})


def _jwks_client(url: str, cache_seconds: float) -> PyJWKClient:
    """An issuer's JWKS, kept ``cache_seconds`` (0: fetched for every token).

    Only the key *set* is cached, never single keys: PyJWKClient's per-kid cache (``cache_keys``) has no
    expiry, so a key the issuer withdrew would stay trusted until a restart. An unknown kid refetches the
    set at once (key rotation), at most once a second per issuer.
    """
    if cache_seconds <= 0:
        return PyJWKClient(url, cache_jwk_set=False, timeout=5)
    return PyJWKClient(url, cache_jwk_set=True, lifespan=cache_seconds, timeout=5, cooldown_duration=1)


class TokenVerifier:
    """Trusts the embedded issuer and any configured external issuers (issuer URL -> JWKS URL)."""

    def __init__(
        self,
        audience: str,
        embedded_issuer: str,
        key: IssuerKey,
        external: dict[str, str],
        jwks_cache_seconds: float = 60.0,
        max_lifetime: int = 3600,
    ) -> None:
        self.audience = audience
        self.max_lifetime = max_lifetime
        self.embedded_issuer = embedded_issuer
        self.key = key
        self.external = {iss: _jwks_client(url, jwks_cache_seconds) for iss, url in external.items()}

    def verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise AuthError("the bearer token is not a well-formed JWT") from None
        alg = header.get("alg")
        if alg not in ALLOWED_ALGORITHMS:
            raise AuthError(f"token algorithm {alg!r} is not accepted")
        issuer = unverified.get("iss")
        signing_key = self._signing_key(token, issuer)
        try:
            claims = jwt.decode(
                token,
                signing_key,
                algorithms=[alg],
                audience=self.audience,
                issuer=issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.InvalidSignatureError:
            raise AuthError(self._bad_signature(issuer, header.get("kid"))) from None
        except jwt.InvalidAudienceError:
            raise AuthError(
                f"the token is meant for {unverified.get('aud')!r} (aud), this server is {self.audience!r}"
            ) from None
        except jwt.PyJWTError as e:
            raise AuthError(_why(e)) from None
        except (TypeError, ValueError) as e:  # TypeError: an RSA alg named for an EC key
            raise AuthError(f"the token is not valid: {type(e).__name__}") from None
        _check_lifetime(claims, self.max_lifetime)
        return _principal(claims, str(issuer))

    def _signing_key(self, token: str, issuer: Any) -> Any:
        if issuer == self.embedded_issuer:
            return self.key.private_key.public_key()
        if issuer in self.external:
            try:
                return self.external[issuer].get_signing_key_from_jwt(token).key
            except jwt.PyJWTError:
                raise AuthError(f"no key of the issuer {issuer!r} matches the token (kid)") from None
        raise AuthError(
            f"the token's issuer {issuer!r} is not trusted here; this server's own issuer is "
            f"{self.embedded_issuer!r} (its base URL + /auth): was the token minted for another base URL "
            "or port?"
        )

    def _bad_signature(self, issuer: Any, kid: Any) -> str:
        if issuer != self.embedded_issuer:
            return "the token's signature does not verify with its issuer's key"
        ours = self.key.kid
        named = f"; the token names key {kid!r}" if kid and kid != ours else ""
        return (
            f"the token's signature does not verify with this server's issuer key (kid {ours}){named}: "
            "was it minted with the key of another data directory (VOORZORG_DATA_DIR)?"
        )


def _why(e: jwt.PyJWTError) -> str:
    if isinstance(e, jwt.ExpiredSignatureError):
        return "the token has expired"
    if isinstance(e, jwt.ImmatureSignatureError):
        return "the token is not valid yet"
    return f"the token is not valid: {type(e).__name__}"


def _check_lifetime(claims: dict[str, Any], max_lifetime: int) -> None:
    """A token living longer than the server accepts is refused, whoever signed it: a leaked one would
    otherwise open the data for as long as its issuer chose."""
    iat = claims.get("iat")
    if iat is not None and not _is_number(iat):
        raise AuthError("the token's iat is not a time")
    start = iat if iat is not None else time.time()
    if not _is_number(claims["exp"]) or claims["exp"] - start > max_lifetime + LEEWAY_SECONDS:
        raise AuthError(f"the token lives longer than this server accepts ({max_lifetime} s)")


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _principal(claims: dict[str, Any], issuer: str) -> Principal:
    """The caller as the claims say, each claim of the type it must have (else 401, never a 500 later):
    strings for the client, role and scope, `system|value` for the organisation, `act.sub` a string."""
    texts = {name: claims.get(name) for name in ("client_id", "sub", "voorzorg_role", "scope")}
    wrong = sorted(name for name, value in texts.items() if value is not None and not isinstance(value, str))
    organization = claims.get("organization")
    if organization is not None and not _is_organization(organization):
        wrong.append("organization")
    act = claims.get("act")
    if act is not None and not (isinstance(act, dict) and isinstance(act.get("sub"), str)):
        wrong.append("act")
    if wrong:
        raise AuthError(f"the token's claims are malformed: {', '.join(wrong)}")
    return Principal(
        client_id=str(texts["client_id"] or texts["sub"] or ""),
        role=str(texts["voorzorg_role"] or ""),
        organization=organization,
        scopes=parse_scopes(str(texts["scope"] or "")),
        user=act["sub"] if act is not None else None,
        issuer=issuer,
    )


def _is_organization(value: object) -> bool:
    """`system|value`: an identifier system (a URI) and a value, both present."""
    if not isinstance(value, str):
        return False
    system, sep, code = value.partition("|")
    return bool(sep and system.strip() and code.strip() and "|" not in code)
