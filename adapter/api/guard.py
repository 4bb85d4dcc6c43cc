"""The gate every FHIR data request passes: who is asking (bearer token), may they (SMART scopes and
the access policy), and the NEN 7513 record of what they did.

Authentication and auditing happen in one middleware, so no route can be added that skips them;
routes call `require`/`visible`/`restrict` for the checks that depend on the data.
"""

from __future__ import annotations

import logging

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adapter.api.context import caller_address, ctx
from adapter.api.middleware import HttpMiddleware
from adapter.api.responses import error_response, internal_error
from adapter.data import operation_roles
from adapter.fhir.outcome import FhirError
from adapter.fhir.subject import client_of
from adapter.security.access import Viewer
from adapter.security.audit import Access, Actor, build_event
from adapter.security.principal import Principal
from adapter.security.scopes import parse_scopes
from adapter.security.tokens import AuthError
from adapter.store.deadline import TimedOut, outside_deadline
from adapter.store.deadline import current as current_deadline
from adapter.store.engine import Store
from adapter.store.session import Match, Session, Stored

log = logging.getLogger("voorzorg.security")

#: Paths anyone may read: what the server is, and how to get a token. The coordinator's dashboard is a
#: person's browser, not a bearer token: it authenticates by its own session and audits every view,
#: login and logout itself (adapter.api.dashboard).
PUBLIC_PREFIXES = ("/metadata", "/.well-known/", "/auth/", "/dashboard/")
PUBLIC_CONFORMANCE = (
    "/CodeSystem",
    "/ValueSet",
    "/StructureDefinition",
    "/PlanDefinition",
    "/NamingSystem",
    "/OperationDefinition",
)

#: The principal of `serve --insecure-dev-no-auth`: everything, loudly announced at start.
DEV_PRINCIPAL = Principal(
    client_id="insecure-dev-no-auth",
    role="jgz",
    organization=None,
    scopes=parse_scopes("system/*.cruds"),
    issuer="none",
)


def is_public(request: Request) -> bool:
    """What the server is and how to get a token; reads of conformance resources, not operations on them
    (`$validate` reads the store: it is authenticated and audited like any other)."""
    path = request.url.path
    if path.startswith(PUBLIC_PREFIXES) or path == "/dashboard":
        return True
    if "/$" in path:
        return False
    return request.method == "GET" and any(path == p or path.startswith(p + "/") for p in PUBLIC_CONFORMANCE)


def principal(request: Request) -> Principal:
    """The authenticated caller; 401 when a route that needs one is reached without (never a 500)."""
    p: Principal | None = getattr(request.state, "principal", None)
    if p is None:
        raise _unauthorized("A bearer token is required (Authorization: Bearer ...)", "invalid_request")
    return p


def access(request: Request) -> Access:
    a: Access = request.state.access
    return a


def writer(request: Request) -> Store:
    """The store acting for this request's caller: its units of work write their audit record with the
    change they commit (`adapter.security.audit.RecordChange`)."""
    c = ctx(request)
    actor = Actor(
        principal(request),
        access(request),
        path=f"{request.method} {request.url.path}",
        observer=c.settings.base_url,
        address=caller_address(request),
    )
    return c.store.acting_for(actor)


class Gate(HttpMiddleware):
    """The gate as plain ASGI middleware (adapter.api.middleware): authenticate, run the request, and
    write its AuditEvent whatever the outcome — with the status the client is sent, before the response
    starts. An exception from the routes is still answered as an OperationOutcome, and still audited."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope)
        if is_public(request):
            await self.app(scope, receive, send)
            return
        request.state.access = Access(interaction=_interaction(request))
        request.state.principal = None
        refused = await run_in_threadpool(_admit, request)  # may fetch a JWKS
        if refused is not None:
            await refused(scope, receive, send)
            return
        await _Audited(request, send).run(self.app, receive)


def _admit(request: Request) -> Response | None:
    """Authenticates the caller (request.state.principal); when it fails, the 401 to answer, already
    audited: one hop to the thread pool for both."""
    try:
        request.state.principal = _authenticate(request)
    except FhirError as e:
        response: Response = error_response(e)
        _audit(request, response.status_code)
        return response
    return None


class _Audited:
    """The request's answer, audited as its response starts (from the thread pool: a database write)."""

    def __init__(self, request: Request, send: Send) -> None:
        self.request, self.send = request, send
        self.started = False

    async def run(self, app: ASGIApp, receive: Receive) -> None:
        scope = self.request.scope
        try:
            await app(scope, receive, self._audited)
        except Exception as e:  # still answered as an OperationOutcome, and still audited
            if self.started:
                raise
            await internal_error(e)(scope, receive, self._audited)
            return
        if not self.started:  # the routes always answer; as BaseHTTPMiddleware had it, else a 500
            await internal_error(RuntimeError("No response returned."))(scope, receive, self._audited)

    async def _audited(self, message: Message) -> None:
        if message["type"] == "http.response.start" and not self.started:
            self.started = True
            await run_in_threadpool(_audit, self.request, message["status"])
        await self.send(message)


def _authenticate(request: Request) -> Principal:
    c = ctx(request)
    if c.settings.insecure_no_auth:
        return DEV_PRINCIPAL
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("A bearer token is required (Authorization: Bearer ...)", "invalid_request")
    try:
        return c.verifier.verify(token.strip())
    except AuthError as e:
        raise _unauthorized(f"The bearer token is refused: {e}", "invalid_token") from None


def _unauthorized(text: str, error: str) -> FhirError:
    err = FhirError.one(401, text, code="login")
    err.headers["WWW-Authenticate"] = f'Bearer error="{error}"'
    return err


#: The FHIR interaction of a write, by method (reads and searches are told apart by their path).
_WRITES = {"PUT": "update", "DELETE": "delete", "PATCH": "patch"}


def _interaction(request: Request) -> str:
    """The FHIR interaction a request is, as the audit names it (restful-interaction codes)."""
    parts = [p for p in request.url.path.split("/") if p]
    method = request.method
    if not parts:
        return "transaction" if method == "POST" else "read"
    if any(p.startswith("$") for p in parts):
        return "operation"
    if method in _WRITES:
        return _WRITES[method]
    if method == "POST":
        return "search-type" if parts[-1] == "_search" else "create"
    return _read_interaction(parts)


def _read_interaction(parts: list[str]) -> str:
    if parts[-1] == "_history":
        return "history-type" if len(parts) == 2 else "history-instance"
    if len(parts) >= 3 and parts[-2] == "_history":
        return "vread"
    return "search-type" if len(parts) == 1 else "read"


def _audit(request: Request, status: int) -> None:
    """The request's record, naming the status the client was sent: when the server answered 503 at the
    request's deadline (adapter.api.app.within_deadline), that 503 — whatever the handler made of it."""
    deadline = current_deadline()
    if deadline is not None and not deadline.cancelled:
        try:
            _record(request, status)  # under the deadline: a 503 sent meanwhile refuses this commit
            return
        except TimedOut:
            pass
    with outside_deadline():
        _record(request, status if deadline is None else 503)


def _record(request: Request, status: int) -> None:
    c = ctx(request)
    a = access(request)
    if a.recorded_with_change and status < 400:
        rest = a.unrecorded()  # the change was recorded with it (RecordChange); what else it touched
        if rest is None:
            return
        a = rest
    if a.query is None and request.url.query:
        a.query = request.url.query
    outcome = "success" if status < 400 else ("minor" if status < 500 else "serious")
    text = f"HTTP {status}"
    event = build_event(
        a,
        principal=request.state.principal,
        outcome=outcome,
        outcome_text=text,
        address=caller_address(request),
        path=f"{request.method} {request.url.path}",
        observer=c.settings.base_url,
    )
    try:
        c.audit.append(event)
    except TimedOut:
        raise
    except Exception as e:  # the response stands; the failure to log is itself logged (no client data)
        log.error("could not write the audit record: %s", type(e).__name__)


# --- checks the routes make --------------------------------------------------------------------
def require(request: Request, resource_type: str, permission: str) -> Principal:
    """403 unless the token's scopes and role allow this interaction on this type."""
    p = principal(request)
    access(request).resource_type = resource_type
    if not p.may(resource_type, permission):
        raise FhirError.one(
            403,
            f"The token does not allow '{permission}' on {resource_type} (scopes and role {p.role!r})",
            code="forbidden",
        )
    return p


def may_call(request: Request, operation: str) -> None:
    """403 unless the caller's role may take this workflow step (access-policy.yaml `operations`)."""
    role, allowed = principal(request).role, operation_roles().get(operation, [])
    if role not in allowed:
        only = ", ".join(allowed) or "no role"
        raise FhirError.one(
            403, f"The role {role!r} may not do this ({operation}: {only} only)", code="forbidden"
        )


def viewer(request: Request) -> Viewer:
    """What the caller may see (adapter.security.access)."""
    return Viewer(principal(request))


def visible(request: Request, session: Session, stored: Stored) -> bool:
    """Whether the caller's organisation has a part in this resource (else: as if it did not exist)."""
    return viewer(request).sees(session, stored)


def restrict(request: Request, resource_type: str) -> list[Match]:
    """Extra search criteria that keep a search inside what the caller may see."""
    return viewer(request).limits(resource_type)


def patient_of(stored: Stored) -> str | None:
    """The client (Patient) a resource is about, for the audit record."""
    return client_of(stored.content)
