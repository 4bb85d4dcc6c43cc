"""The outbound FHIR client: one per peer, on `requests`.

    client = FhirClient.for_peer(peer)                 # or FhirClient(base_url, session=..., auth=...)
    response_bundle = client.transaction(bundle)       # POST [base]
    resource, version = client.read("Patient", "123")
    searchset = client.search("Patient", {"identifier": "http://fhir.nl/fhir/NamingSystem/bsn|999911120"})
    r = client.request("PUT", "Task/1", body=task, headers={"If-Match": 'W/"3"'})

What it does for every call:
- a timeout per request (the peer's `timeout`);
- retries, with exponential backoff and full jitter, on connection errors and timeouts, 408, 429 and
  5xx; a `Retry-After` (seconds or an HTTP date) is honoured, and when it asks for longer than the
  client may wait the call gives up with `PeerError.retry_after` set, so the outbox waits that long;
- never a blind retry of any other 4xx (the request itself is wrong: retrying changes nothing);
- a bearer token from the peer's token endpoint (`adapter.exchange.auth`), renewed once on a 401;
- a `Watch`, when the caller gives one (`client.watched(watch)`): asked before every request, the first
  and every retry (it raises to stop: the worker's lease is lost, her consent withdrawn, the peer's
  circuit open), and told after every request whether the peer answered (any status but 408, 429, 5xx)
  or not — which is how the worker fences its sends and keeps a circuit breaker per peer.

Every failure is a `PeerError`: `transient` says whether trying later may help, `status` is the HTTP
status when there was one; `PreconditionFailed` (412) is its own type, for If-Match handling.

The transport is pluggable the way httpx's is: pass any `requests.Session` (with your own adapters
mounted) — the tests and the bench do; `sleep` and `rand` are injectable too.
"""

from __future__ import annotations

import copy
import email.utils
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import requests

from adapter.exchange.auth import NoAuth, TokenError, TokenSource, token_source
from adapter.exchange.peers import Peer

FHIR_JSON = "application/fhir+json"
#: Statuses worth trying again: the peer is busy or briefly broken, the request itself is fine.
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


class PeerError(Exception):
    """A call to a peer failed. `transient`: trying later may succeed (the outbox backs off and tries
    again); otherwise the message is wrong for this peer (it is parked as dead at once)."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        transient: bool = True,
        retry_after: float | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.transient = transient
        self.retry_after = retry_after
        self.body = body


class PreconditionFailed(PeerError):
    """412: the version in If-Match is no longer the peer's current one (re-read and re-apply)."""


class Watch(Protocol):
    """What a caller checks before every request of a call and learns after each (see the module)."""

    def before(self) -> None: ...

    def after(self, failure: PeerError | None) -> None: ...


class _Unwatched:
    def before(self) -> None:
        return None

    def after(self, failure: PeerError | None) -> None:
        return None


@dataclass(frozen=True)
class RetryPolicy:
    """Tries within one call: `retries` more after the first, waits `base * 2**n` capped at `cap`,
    drawn uniformly from [0, that] (full jitter); a Retry-After longer than `cap` ends the call."""

    retries: int = 3
    base: float = 0.5
    cap: float = 30.0

    def delay(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        return float(rand() * min(self.cap, self.base * (2**attempt)))


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """`Retry-After` as seconds from now: a number of seconds, or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class FhirClient:
    def __init__(
        self,
        base_url: str,
        *,
        session: requests.Session | None = None,
        auth: TokenSource | None = None,
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rand: Callable[[], float] = random.random,
        name: str | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = session or requests.Session()
        self.auth: TokenSource = auth or NoAuth()
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.sleep = sleep
        self.rand = rand
        self.name = name or self.base_url
        self.watch: Watch = _Unwatched()

    def watched(self, watch: Watch, retries: int | None = None) -> FhirClient:
        """This client (same connections, same token) with `watch` asked before and told after every
        request; `retries`: another number of retries within a call (0 for a probe)."""
        twin = copy.copy(self)
        twin.watch = watch
        if retries is not None:
            twin.retry = RetryPolicy(retries=retries, base=self.retry.base, cap=self.retry.cap)
        return twin

    @classmethod
    def for_peer(
        cls,
        peer: Peer,
        session: requests.Session | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> FhirClient:
        session = session or requests.Session()
        return cls(
            peer.base_url,
            session=session,
            auth=token_source(peer, session),
            timeout=peer.timeout,
            retry=retry or RetryPolicy(retries=peer.retries),
            sleep=sleep,
            name=peer.name,
        )

    # --- FHIR interactions --------------------------------------------------------------------
    def transaction(self, bundle: dict[str, Any], headers: Mapping[str, str] | None = None) -> dict[str, Any]:
        """POST a transaction (or batch) Bundle; the response Bundle."""
        return _body(self.request("POST", "", body=bundle, headers=headers))

    def read(self, res_type: str, res_id: str) -> tuple[dict[str, Any], str | None]:
        """The resource and its version (from ETag, else meta.versionId)."""
        r = self.request("GET", f"{res_type}/{res_id}")
        body = _body(r)
        return body, version_of(r.headers.get("ETag"), body)

    def search(self, res_type: str, params: Mapping[str, str]) -> dict[str, Any]:
        return _body(self.request("GET", res_type, params=params))

    # --- the one place HTTP happens -----------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> requests.Response:
        url = f"{self.base_url}/{path.lstrip('/')}" if path else f"{self.base_url}/"
        renewed = False
        attempt = 0
        while True:
            self.watch.before()
            response, failure = self._attempt(method, url, path, body, headers, params)
            self.watch.after(failure if _unanswered(failure) else None)
            if response is not None:
                return response
            assert failure is not None
            if failure.status == 401 and not renewed and not isinstance(self.auth, NoAuth):
                renewed = True
                self.auth.invalidate()  # an expired or revoked token: one fresh one, no backoff
                continue
            if failure.status is not None and failure.status not in RETRY_STATUSES:
                raise failure
            if attempt >= self.retry.retries:
                raise failure
            wait = failure.retry_after if failure.status is not None else None
            delay = self.retry.delay(attempt, self.rand) if wait is None else wait
            if delay > self.retry.cap:
                raise failure  # the peer asks for more patience than one call has: the outbox waits
            self.sleep(delay)
            attempt += 1

    def _attempt(
        self,
        method: str,
        url: str,
        path: str,
        body: Any,
        headers: Mapping[str, str] | None,
        params: Mapping[str, str] | None,
    ) -> tuple[requests.Response | None, PeerError | None]:
        """One request: the response when it succeeded (< 300), else the failure."""
        try:
            response = self._send(method, url, body, headers, params)
        except TokenError as e:
            raise PeerError(f"{self.name}: {e}", transient=e.transient) from None
        except requests.RequestException as e:
            return None, PeerError(f"{self.name}: {type(e).__name__} ({method} {path or '/'})")
        if response.status_code < 300:
            return response, None
        return None, _failure(self.name, method, path, response)

    def _send(
        self,
        method: str,
        url: str,
        body: Any,
        headers: Mapping[str, str] | None,
        params: Mapping[str, str] | None,
    ) -> requests.Response:
        h = {"Accept": FHIR_JSON}
        if body is not None:
            h["Content-Type"] = FHIR_JSON
        token = self.auth.token()
        if token:
            h["Authorization"] = f"Bearer {token}"
        h.update(headers or {})
        return self.session.request(
            method, url, json=body, headers=h, params=dict(params or {}), timeout=self.timeout
        )


def _unanswered(failure: PeerError | None) -> bool:
    """The peer did not answer, or answered that it is busy or broken (not: it refused the request)."""
    return failure is not None and (failure.status is None or failure.status in RETRY_STATUSES)


def _failure(name: str, method: str, path: str, r: requests.Response) -> PeerError:
    status = r.status_code
    body: Any
    try:
        body = r.json()
    except ValueError:
        body = None
    text = _outcome_text(body) or r.reason or ""
    message = f"{name}: HTTP {status} on {method} {path or '/'}" + (f": {text}" if text else "")
    cls = PreconditionFailed if status == 412 else PeerError
    transient = status in RETRY_STATUSES or status in (401, 403, 409, 423)
    return cls(
        message[:500],
        status=status,
        transient=transient,
        retry_after=retry_after_seconds(r.headers.get("Retry-After")),
        body=body,
    )


def _outcome_text(body: Any) -> str:
    """The first issue of an OperationOutcome, in a line (never the resource content)."""
    if not isinstance(body, dict) or body.get("resourceType") != "OperationOutcome":
        return ""
    for issue in body.get("issue", []):
        text = issue.get("diagnostics") or (issue.get("details") or {}).get("text")
        if text:
            return str(text).splitlines()[0][:200]
    return ""


def _body(r: requests.Response) -> dict[str, Any]:
    try:
        body = r.json()
    except ValueError:
        raise PeerError(
            f"HTTP {r.status_code}: the peer's answer is not JSON", status=r.status_code
        ) from None
    if not isinstance(body, dict):
        raise PeerError(f"HTTP {r.status_code}: the peer's answer is not a JSON object", status=r.status_code)
    return body


def version_of(etag: str | None, resource: Mapping[str, Any] | None = None) -> str | None:
    """The version in an ETag (`W/"3"`), else the resource's meta.versionId."""
    if etag:
        return etag.strip().removeprefix("W/").strip('"') or None
    meta = (resource or {}).get("meta") or {}
    v = meta.get("versionId")
    return str(v) if v is not None else None
