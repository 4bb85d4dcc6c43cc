"""What every request handler needs — the composed adapter: settings, store, audit, exchange — and
request helpers."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from starlette.requests import Request

from adapter.composition import Adapter
from adapter.config import Settings
from adapter.dashboard.oidc import OidcClient
from adapter.dashboard.sessions import Sessions
from adapter.domain.facts import Deployment
from adapter.exchange.runtime import Exchange
from adapter.fhir.jsonbody import parse_json
from adapter.fhir.limits import refuse_unreadable, text_problem, whole_number
from adapter.fhir.models import FHIR_JSON
from adapter.fhir.outcome import FhirError, Issue
from adapter.security.audit import AuditLog
from adapter.security.clients import RegisteredClient, load_clients
from adapter.security.proxies import TrustedProxies
from adapter.security.tokens import IssuerKey, TokenVerifier
from adapter.store.engine import Store

_JSON_TYPES = (FHIR_JSON, "application/json", "application/json+fhir")
_ACCEPTABLE = (*_JSON_TYPES, "*/*", "application/*")
_FORMATS = ("json", *_JSON_TYPES)


@dataclass
class AppContext:
    adapter: Adapter

    @property
    def settings(self) -> Settings:
        return self.adapter.settings

    @property
    def store(self) -> Store:
        """The store with its effects, acting for no one: reads. Writes go through `guard.writer(request)`."""
        return self.adapter.store

    @property
    def audit(self) -> AuditLog:
        return self.adapter.audit

    @property
    def exchange(self) -> Exchange:
        return self.adapter.exchange

    @cached_property
    def issuer_key(self) -> IssuerKey:
        return IssuerKey(self.settings.issuer_key_path)

    @cached_property
    def verifier(self) -> TokenVerifier:
        s = self.settings
        return TokenVerifier(
            s.effective_audience,
            s.issuer,
            self.issuer_key,
            s.trusted_issuers,
            s.jwks_cache_seconds,
            s.max_token_lifetime,
        )

    @cached_property
    def sessions(self) -> Sessions:
        """The dashboard's browser sessions (adapter.dashboard.sessions)."""
        return Sessions(self.settings.dashboard_session_minutes * 60)

    @cached_property
    def oidc(self) -> OidcClient | None:
        """The dashboard's login at the organisation's identity provider; None when none is configured."""
        s = self.settings
        return OidcClient(s) if s.oidc_issuer and s.oidc_client_id else None

    def clients(self) -> dict[str, RegisteredClient]:
        """Read on each token request, so a newly registered client needs no restart."""
        return load_clients(self.settings.effective_clients_file)

    @property
    def deployment(self) -> Deployment:
        return self.adapter.deployment

    @property
    def base(self) -> str:
        return self.settings.base_url


def ctx(request: Request) -> AppContext:
    context: AppContext = request.app.state.ctx
    return context


def caller_address(request: Request) -> str | None:
    """The caller's network address for the audit record: X-Forwarded-For only from trusted proxies."""
    peer = request.client.host if request.client else None
    proxies = TrustedProxies.of(ctx(request).settings.trusted_proxies)
    return proxies.address(peer, request.headers.getlist("x-forwarded-for"))


def check_text(request: Request) -> None:
    """400 naming the query parameter (or the path) holding a NUL character or a lone surrogate, on
    every route: no database takes them as sent (`adapter.fhir.limits`)."""
    bad = text_problem(request.url.path)
    if bad:
        raise FhirError.one(400, f"The request path holds {bad}, which is not accepted", code="value")
    refuse_unreadable(request.query_params.multi_items())


def check_accept(request: Request) -> None:
    """406 unless the client accepts FHIR JSON (`Accept` header or the `_format` parameter)."""
    fmt = request.query_params.get("_format")
    if fmt is not None and fmt.split(";")[0].strip() not in _FORMATS:
        raise FhirError.one(
            406,
            f"_format {fmt!r} is not supported; this server speaks {FHIR_JSON}",
            "_format",
            code="not-supported",
        )
    accept = request.headers.get("accept")
    if fmt is None and accept:
        types = [part.split(";")[0].strip().lower() for part in accept.split(",")]
        if not any(t in _ACCEPTABLE for t in types):
            raise FhirError.one(
                406, f"Cannot answer in {accept!r}; this server speaks {FHIR_JSON}", code="not-supported"
            )


async def text_checked(request: Request) -> None:
    """`check_text` as the dependency of every route: on the event loop (string checks of microseconds),
    not one more hop to the thread pool per request, as a plain `def` dependency would be."""
    check_text(request)


async def accept_checked(request: Request) -> None:
    """`check_accept` as a router's dependency, on the event loop (as `text_checked`)."""
    check_accept(request)


async def read_fhir_body(request: Request) -> dict[str, Any]:
    """The body as JSON, after the Content-Type (415) and size (413) checks."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in _JSON_TYPES:
        raise FhirError.one(
            415,
            f"Content-Type {content_type or '(none)'!r} is not supported; send {FHIR_JSON}",
            code="not-supported",
        )
    settings = ctx(request).settings
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > settings.max_body_bytes:
        raise FhirError.one(
            413,
            f"The body is {declared} bytes; this server accepts at most {settings.max_body_bytes}",
            code="too-costly",
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > settings.max_body_bytes:
            raise FhirError.one(413, f"The body exceeds {settings.max_body_bytes} bytes", code="too-costly")
        chunks.append(chunk)
    return parse_json(b"".join(chunks), max_bytes=settings.max_body_bytes, max_depth=settings.max_json_depth)


def page(request: Request) -> tuple[int, int]:
    """(`_count`, `_offset`) of a request: the configured default page, never above the maximum."""
    q, settings = request.query_params, ctx(request).settings
    raw_count, raw_offset = q.get("_count"), q.get("_offset")
    count = min(query_integer("_count", raw_count), settings.max_page_size) if raw_count else None
    offset = query_integer("_offset", raw_offset) if raw_offset else 0
    return (settings.default_page_size if count is None else count), offset


def query_integer(name: str, raw: str) -> int:
    """A whole number from a query string; 400 naming the parameter when it is none, or beyond the
    largest both databases page with (`mappings/input-limits.yaml`)."""
    try:
        return whole_number(raw)
    except ValueError as e:
        raise FhirError.one(400, f"{name}: {e}", name, code="value") from None


def _header_error(status: int, diagnostics: str, code: str) -> FhirError:
    return FhirError(status, [Issue(diagnostics, code=code, location=("http.If-Match",))])


def if_match_version(request: Request, *, creates: bool = False) -> int | None:
    """The version in an `If-Match: W/"3"` header; 400 when it is no version.

    An update names the version it changes, so two writers never overwrite each other unseen (a lost
    update): without `If-Match` it is 428. Only a PUT that creates (`creates`) may go without; no PUT
    of this server creates today."""
    raw = request.headers.get("if-match")
    if raw is None:
        if creates:
            return None
        why = 'An update needs If-Match with the version it changes (W/"n", the ETag of the read)'
        raise _header_error(428, why, "required")
    tag = raw.strip().removeprefix("W/").strip('"')
    if not tag.isdigit():
        raise _header_error(400, f'If-Match {raw!r} is not a version ETag such as W/"3"', "value")
    return int(tag)
