"""Login at the organisation's identity provider: OpenID Connect, authorization code flow with PKCE (S256).

Discovery at `<issuer>/.well-known/openid-configuration`; the ID token is verified with the provider's
JWKS (PyJWT): signature (asymmetric algorithms only), `iss`, `aud` (our client id), `exp`, and the
`nonce` of this login. The `state` ties the answer to the login this browser started.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import jwt
import requests

from adapter.config import Settings
from adapter.dashboard.users import User
from adapter.security.tokens import ALLOWED_ALGORITHMS

TIMEOUT = 10.0


class OidcError(Exception):
    """The login at the identity provider failed; the text says why (no token content)."""


def challenge(verifier: str) -> str:
    """PKCE S256: BASE64URL(SHA256(verifier)) without padding (RFC 7636 §4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class Login:
    """One login started: where to send the browser, and what the answer must match."""

    url: str
    state: str
    nonce: str
    verifier: str


class OidcClient:
    def __init__(self, settings: Settings) -> None:
        self.issuer = settings.oidc_issuer
        self.client_id = settings.oidc_client_id
        self._secret = settings.oidc_client_secret
        self.role_claim = settings.oidc_role_claim
        self.organization_claim = settings.oidc_organization_claim
        self._discovery: dict[str, Any] | None = None
        self._jwks: jwt.PyJWKClient | None = None

    def discovery(self) -> dict[str, Any]:
        if self._discovery is None:
            url = f"{self.issuer}/.well-known/openid-configuration"
            try:
                r = requests.get(url, timeout=TIMEOUT)
                r.raise_for_status()
                doc: dict[str, Any] = r.json()
            except (requests.RequestException, ValueError) as e:
                raise OidcError(f"the identity provider's discovery document: {type(e).__name__}") from None
            if doc.get("issuer", "").rstrip("/") != self.issuer:
                raise OidcError("the identity provider's discovery document names another issuer")
            self._discovery = doc
        return self._discovery

    def start(self, redirect_uri: str) -> Login:
        state, nonce, verifier = (secrets.token_urlsafe(32) for _ in range(3))
        query = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": redirect_uri,
            "scope": "openid profile",
            "state": state,
            "nonce": nonce,
            "code_challenge": challenge(verifier),
            "code_challenge_method": "S256",
        }
        return Login(
            f"{self.discovery()['authorization_endpoint']}?{urlencode(query)}", state, nonce, verifier
        )

    def finish(self, code: str, redirect_uri: str, *, nonce: str, verifier: str) -> User:
        """Exchange the code (with the PKCE verifier) and verify the ID token; the person it names."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        }
        try:
            r = requests.post(
                self.discovery()["token_endpoint"],
                data=form,
                auth=(self.client_id, self._secret) if self._secret else None,
                timeout=TIMEOUT,
            )
        except requests.RequestException as e:
            raise OidcError(f"the identity provider's token endpoint: {type(e).__name__}") from None
        if r.status_code != 200:
            raise OidcError(f"the identity provider refused the code (HTTP {r.status_code})")
        id_token = (
            r.json().get("id_token")
            if r.headers.get("content-type", "").startswith("application/json")
            else None
        )
        if not isinstance(id_token, str):
            raise OidcError("the identity provider sent no ID token")
        return self.person(self.verify(id_token, nonce))

    def verify(self, id_token: str, nonce: str) -> dict[str, Any]:
        if self._jwks is None:
            self._jwks = jwt.PyJWKClient(self.discovery()["jwks_uri"], cache_keys=True, timeout=int(TIMEOUT))
        try:
            key = self._jwks.get_signing_key_from_jwt(id_token)
            claims: dict[str, Any] = jwt.decode(
                id_token,
                key.key,
                algorithms=list(ALLOWED_ALGORITHMS),
                audience=self.client_id,
                issuer=self.discovery()["issuer"],
                leeway=30,
                options={"require": ["iss", "aud", "exp", "iat", "sub"]},
            )
        except jwt.PyJWTError as e:
            raise OidcError(f"the ID token is refused: {type(e).__name__}") from None
        if not secrets.compare_digest(str(claims.get("nonce", "")), nonce):
            raise OidcError("the ID token's nonce is not this login's")
        return claims

    def person(self, claims: dict[str, Any]) -> User:
        role, organization = claims.get(self.role_claim), claims.get(self.organization_claim)
        return User(
            login=f"{claims['sub']}",
            name=str(claims.get("name") or claims.get("preferred_username") or claims["sub"]),
            organization=organization if isinstance(organization, str) else "",
            role=role if isinstance(role, str) else "",
        )
