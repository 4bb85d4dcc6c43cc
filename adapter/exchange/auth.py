"""Bearer tokens for calls to a peer: OAuth2 client credentials at the peer's token endpoint.

Two ways to authenticate the client (us) there:
- `client-credentials`: client id and secret (HTTP Basic, `client_secret_basic`);
- `smart-backend`: SMART Backend Services, a JWT assertion signed with our own EC P-256 key
  (`private_key_jwt`, ES256), the same kind of assertion our own token endpoint verifies
  (`adapter.security.clients.verify_assertion`); the key is kept like the embedded issuer's
  (`adapter.security.tokens.IssuerKey`: created on first use, key id = RFC 7638 thumbprint).

A token is cached until shortly before it expires; a 401 from the peer drops it (`invalidate`).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, Protocol

import jwt
import requests

from adapter.exchange.peers import Peer
from adapter.security.clients import ASSERTION_TYPE, MAX_ASSERTION_LIFETIME
from adapter.security.tokens import IssuerKey

#: A token is renewed this many seconds before its `expires_in` runs out.
EXPIRY_MARGIN = 30.0


class TokenError(Exception):
    """The token endpoint did not give us a token; `transient` when trying later may help."""

    def __init__(self, message: str, transient: bool = True) -> None:
        super().__init__(message)
        self.transient = transient


class TokenSource(Protocol):
    def token(self) -> str | None: ...

    def invalidate(self) -> None: ...


class NoAuth:
    """A peer without authentication (a test server, a peer inside a trusted network)."""

    def token(self) -> str | None:
        return None

    def invalidate(self) -> None:
        return None


def client_assertion(key: IssuerKey, client_id: str, token_url: str, now: int | None = None) -> str:
    """A SMART Backend Services client assertion: iss = sub = our client id, aud = the token URL."""
    issued = int(time.time()) if now is None else now
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": token_url,
        "iat": issued,
        "exp": issued + min(MAX_ASSERTION_LIFETIME, 300),
        "jti": str(uuid.uuid4()),
    }
    return jwt.encode(claims, key.private_key, algorithm="ES256", headers={"kid": key.kid, "typ": "JWT"})


class ClientCredentials:
    """client_credentials grant with a secret or a signed assertion; the token cached until expiry."""

    def __init__(
        self,
        peer: Peer,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not peer.token_url or not peer.client_id:
            raise ValueError(f"peer {peer.name}: token_url and client_id are required for {peer.auth}")
        self.peer = peer
        self.token_url: str = peer.token_url
        self.client_id: str = peer.client_id
        self.session = session or requests.Session()
        self.clock = clock
        self.key = IssuerKey(peer.key_file) if peer.auth == "smart-backend" and peer.key_file else None
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires = 0.0
        self.fetched = 0  # tokens fetched so far (tests and the bench read it)

    def token(self) -> str | None:
        with self._lock:
            if self._token is None or self.clock() >= self._expires:
                self._token, lifetime = self._fetch()
                self._expires = self.clock() + max(0.0, lifetime - EXPIRY_MARGIN)
                self.fetched += 1
            return self._token

    def invalidate(self) -> None:
        with self._lock:
            self._token = None

    def _fetch(self) -> tuple[str, float]:
        form: dict[str, str] = {"grant_type": "client_credentials"}
        if self.peer.scope:
            form["scope"] = self.peer.scope
        auth: tuple[str, str] | None = None
        if self.key is not None:
            form["client_assertion_type"] = ASSERTION_TYPE
            form["client_assertion"] = client_assertion(self.key, self.client_id, self.token_url)
        else:
            auth = (self.client_id, self.peer.client_secret or "")
        try:
            r = self.session.post(
                self.token_url,
                data=form,
                auth=auth,
                headers={"Accept": "application/json"},
                timeout=self.peer.timeout,
            )
        except requests.RequestException as e:
            raise TokenError(f"token endpoint unreachable: {type(e).__name__}") from None
        if r.status_code != 200:
            body: dict[str, Any] = _json(r)
            why = body.get("error_description") or body.get("error") or f"HTTP {r.status_code}"
            raise TokenError(f"token endpoint refused: HTTP {r.status_code} {why}"[:300])
        body = _json(r)
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise TokenError("token endpoint answered without an access_token")
        return token, float(body.get("expires_in", 300))


def _json(r: requests.Response) -> dict[str, Any]:
    try:
        body = r.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def token_source(peer: Peer, session: requests.Session | None = None) -> TokenSource:
    """The token source a peer's configuration asks for."""
    if peer.auth == "none":
        return NoAuth()
    return ClientCredentials(peer, session)
