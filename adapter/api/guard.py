"""The gate every FHIR data request passes: who is asking (bearer token), may they (SMART scopes and
the access policy), and the NEN 7513 record of what they did.

Authentication and auditing happen in one middleware, so no route can be added that skips them;
routes call `require`/`visible`/`restrict` for the checks that depend on the data.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from adapter.api.context import ctx
from adapter.api.responses import error_response, internal_error
from adapter.fhir.outcome import FhirError
from adapter.security.audit import Access, Actor, build_event
from adapter.security.principal import Principal, consult_request_markers
from adapter.security.scopes import parse_scopes
from adapter.security.tokens import AuthError
from adapter.store.engine import Store
from adapter.store.indexing import IndexRow, index_rows
from adapter.store.session import ACCESS, Alternative, Match, Session, Stored

log = logging.getLogger("voorzorg.security")

#: Paths anyone may read: what the server is, and how to get a token.
PUBLIC_PREFIXES = ("/metadata", "/.well-known/", "/auth/")
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
    path = request.url.path
    if path.startswith(PUBLIC_PREFIXES):
        return True
    return request.method == "GET" and any(path == p or path.startswith(p + "/") for p in PUBLIC_CONFORMANCE)


def principal(request: Request) -> Principal:
    p: Principal = request.state.principal
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
        address=request.client.host if request.client else None,
    )
    return c.store.acting_for(actor)


async def gate(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    """Authenticate, run the request, and write its AuditEvent whatever the outcome."""
    if is_public(request):
        return await call_next(request)
    request.state.access = Access(interaction=_interaction(request))
    request.state.principal = None
    try:
        request.state.principal = await run_in_threadpool(_authenticate, request)  # may fetch a JWKS
    except FhirError as e:
        response: Response = error_response(e)
    else:
        try:
            response = await call_next(request)
        except Exception as e:  # still answered as an OperationOutcome, and still audited
            response = internal_error(e)
    await run_in_threadpool(_audit, request, response.status_code)
    return response


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


def _interaction(request: Request) -> str:
    parts = [p for p in request.url.path.split("/") if p]
    method = request.method
    if not parts:
        return "transaction" if method == "POST" else "read"
    if parts[0].startswith("$") or any(p.startswith("$") for p in parts):
        return "operation"
    if method == "PUT":
        return "update"
    if method == "DELETE":
        return "delete"
    if method == "POST":
        return "search-type" if parts[-1] == "_search" else "create"
    if parts[-1] == "_history" or (len(parts) >= 3 and parts[-2] == "_history"):
        return (
            "history-type"
            if len(parts) == 2
            else ("vread" if parts[-2] == "_history" else "history-instance")
        )
    return "search-type" if len(parts) == 1 else "read"


def _audit(request: Request, status: int) -> None:
    c = ctx(request)
    a = access(request)
    if a.recorded_with_change and status < 400:
        return  # the change was recorded in its own transaction (RecordChange)
    if a.query is None and request.url.query:
        a.query = request.url.query
    outcome = "success" if status < 400 else ("minor" if status < 500 else "serious")
    text = f"HTTP {status}"
    event = build_event(
        a,
        principal=request.state.principal,
        outcome=outcome,
        outcome_text=text,
        address=request.client.host if request.client else None,
        path=f"{request.method} {request.url.path}",
        observer=c.settings.base_url,
    )
    try:
        c.audit.append(event)
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


def visible(request: Request, session: Session, stored: Stored) -> bool:
    """Whether the caller's organisation has a part in this resource (else: as if it did not exist)."""
    p = principal(request)
    scope = p.data_scope
    if scope == "all":
        return True
    if scope == "organization":
        return p.organization is not None and session.has_access(
            stored.res_type, stored.res_id, p.organization
        )
    if scope == "consult":
        matches = _consult_matches(p, stored.res_type)
        if matches is None:
            return False
        rows = index_rows(stored.content)
        return all(any(_satisfies(r, m) for r in rows) for m in matches)
    return False


def restrict(request: Request, resource_type: str) -> list[Match]:
    """Extra search criteria that keep a search inside what the caller may see."""
    p = principal(request)
    scope = p.data_scope
    if scope == "all":
        return []
    if scope == "organization" and p.organization:
        return [Match(ACCESS, (Alternative(value=p.organization),))]
    if scope == "consult":
        matches = _consult_matches(p, resource_type)
        if matches is not None:
            return matches
    # Nothing matches: '*' is no FHIR id character (and no NUL byte, which PostgreSQL refuses in text).
    return [Match("_id", (Alternative(value="*nothing*"),))]


def _consult_matches(p: Principal, resource_type: str) -> list[Match] | None:
    """What makes a resource one of this consult team's requests (mappings/access-policy.yaml): the
    consult marker, and its own organisation as the one asked (Task.owner, ServiceRequest.performer), so
    a consult team never sees questions put to another. None: nothing of this type is its."""
    marker = consult_request_markers().get(resource_type)
    system, _, value = (p.organization or "").partition("|")
    if marker is None or not system or not value:
        return None
    return [
        Match(marker["param"], (Alternative(value=marker["code"], system=marker["system"]),)),
        Match(marker["organization"], (Alternative(value=value, system=system),)),
    ]


def _satisfies(row: IndexRow, match: Match) -> bool:
    """Whether a search-index row meets a criterion, as the store's search would (tokens only), so a
    read and a search of the same role agree."""
    return row.param == match.param and any(
        row.value == a.value and (a.system is None or row.system == (a.system or None))
        for a in match.alternatives
    )


def patient_of(stored: Stored) -> str | None:
    """The client (Patient) a resource is about, for the audit record."""
    if stored.res_type == "Patient":
        return stored.reference
    c = stored.content
    for element in ("subject", "for", "patient"):
        ref = c.get(element, {}).get("reference") if isinstance(c.get(element), dict) else None
        if isinstance(ref, str) and ref.startswith("Patient/"):
            return ref
    return None
