"""The coordinator's dashboard: `GET /dashboard` (HTML, SVG charts of the monitoring MeasureReports), its
login (local users, or OpenID Connect at the organisation's identity provider) and logout.

A person in a browser, not a system with a bearer token: the gate (`adapter.api.guard`) lets these paths
through, and this router authenticates by its own session cookie and writes the NEN 7513 record of
every view, login (failed ones too) and logout itself. Forms post a CSRF token; the session cookie is
HttpOnly, SameSite=Strict and, behind TLS, Secure.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse, RedirectResponse, Response

from adapter.api.context import AppContext, caller_address, ctx
from adapter.dashboard.charts import charts
from adapter.dashboard.oidc import OidcError
from adapter.dashboard.sessions import LOGIN_COOKIE, SESSION_COOKIE, same
from adapter.dashboard.source import year_reports
from adapter.dashboard.users import User, authenticate
from adapter.data import operation_roles
from adapter.security.audit import Access, build_event
from adapter.security.principal import Principal
from adapter.security.proxies import TrustedProxies

router = APIRouter()
log = logging.getLogger("voorzorg.dashboard")

OIDC_COOKIE = "vz_oidc"
#: The dashboard's own policy: its stylesheet, its charts as data: images, forms to itself; no script.
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
_TEMPLATES = Environment(
    loader=PackageLoader("adapter.dashboard", "templates"), autoescape=select_autoescape(["html"])
)
_FIRST_YEAR = 2015
_DCM = "http://dicom.nema.org/resources/ontology/DCM"
_AUTHENTICATION = {
    "login": {"code": "110122", "display": "Login"},
    "logout": {"code": "110123", "display": "Logout"},
}


# --- pages ---------------------------------------------------------------------------------------
def page(request: Request, template: str, status: int = 200, **values: Any) -> HTMLResponse:
    html = _TEMPLATES.get_template(template).render(root=page_root(request), **values)
    return HTMLResponse(html, status, headers={"Content-Security-Policy": CSP, "Cache-Control": "no-store"})


def problem(request: Request, status: int, heading: str, message: str) -> HTMLResponse:
    return page(request, "error.html", status, code=status, heading=heading, message=message)


def secure(request: Request) -> bool:
    """Behind TLS: the request came over https, or a trusted proxy says it did."""
    if request.url.scheme == "https" or ctx(request).settings.base_url.startswith("https://"):
        return True
    peer = request.client.host if request.client else ""
    proxies = TrustedProxies.of(ctx(request).settings.trusted_proxies)
    return proxies.trusts(peer) and request.headers.get("x-forwarded-proto", "").lower() == "https"


def set_cookie(request: Request, response: Response, name: str, value: str, **options: Any) -> None:
    options.setdefault("samesite", "strict")
    options.setdefault("path", "/dashboard")
    response.set_cookie(name, value, httponly=True, secure=secure(request), **options)


def drop_cookie(request: Request, response: Response, name: str, path: str = "/dashboard") -> None:
    response.delete_cookie(name, path=path, httponly=True, secure=secure(request), samesite="strict")


def to_login(request: Request) -> Response:
    response = RedirectResponse(f"{page_root(request)}/dashboard/login", 303)
    if request.cookies.get(SESSION_COOKIE):
        drop_cookie(request, response, SESSION_COOKIE)
    return response


def page_root(request: Request) -> str:
    """The path the public base URL starts with ("" at a host's root; "/voorzorg" behind a prefix)."""
    return urlsplit(ctx(request).settings.base_url).path.rstrip("/")


# --- the audit record ------------------------------------------------------------------------------
def audit(
    request: Request,
    person: User | None,
    *,
    what: str,
    outcome: str = "success",
    access: Access | None = None,
    login: str | None = None,
) -> None:
    """The NEN 7513 record: the person (name and id) and organisation, the action, what was shown."""
    c = ctx(request)
    who = Principal(
        client_id="voorzorg-dashboard",
        role=person.role if person else "",
        organization=(person.organization or None) if person else None,
        user=f"{person.name} ({person.login})" if person else (login or "")[:100] or None,
    )
    access = access or Access(interaction="operation")
    event = build_event(
        access,
        principal=who,
        outcome=outcome,
        outcome_text=what,
        address=caller_address(request),
        path=f"{request.method} {request.url.path}",
        observer=c.settings.base_url,
    )
    if access.interaction in _AUTHENTICATION:  # DICOM: User Authentication, Login / Logout
        event["type"] = {"system": _DCM, "code": "110114", "display": "User Authentication"}
        event["subtype"] = [{"system": _DCM, **_AUTHENTICATION[access.interaction]}]
    try:
        c.audit.append(event)
    except Exception as e:  # the page stands; the failure to log is itself logged (no content)
        log.error("could not write the audit record: %s", type(e).__name__)


def may_monitor(person: User) -> bool:
    return person.role in operation_roles().get("monitoring", [])


# --- the dashboard ---------------------------------------------------------------------------------
@router.get("/dashboard")
async def dashboard(request: Request) -> Response:
    c = ctx(request)
    session = c.sessions.get(request.cookies.get(SESSION_COOKIE))
    if session is None:
        return to_login(request)
    person = session.user
    year = _year(request.query_params.get("year"))
    if year is None:
        await run_in_threadpool(audit, request, person, what="HTTP 400: no such year", outcome="minor")
        return problem(request, 400, "No such year", f"Choose a year from {_FIRST_YEAR} to {_this_year()}.")
    if not may_monitor(person):
        await run_in_threadpool(
            audit, request, person, what="HTTP 403: no right to monitoring", outcome="minor"
        )
        return problem(
            request, 403, "Not allowed", "Your role does not give access to the monitoring dashboard."
        )
    reports = await run_in_threadpool(year_reports, c.store, year)
    shown = charts(reports.reports, reports.goals, reports.monthly)
    access = Access(interaction="read", resource_type="MeasureReport")
    access.entities = [f"Measure/{m}" for m in reports.measures]
    start, end = reports.period
    access.query = f"dashboard: measures {','.join(reports.measures)}; period {start}/{end}"
    await run_in_threadpool(audit, request, person, what="HTTP 200: dashboard shown", access=access)
    return page(
        request,
        "dashboard.html",
        person=person,
        csrf=session.csrf,
        year=year,
        years=list(range(_this_year(), _FIRST_YEAR - 1, -1)),
        period=reports.period,
        organization=person.organization,
        charts=shown,
        unavailable=reports.unavailable,
        computed=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )


def _this_year() -> int:
    return date.today().year


def _year(raw: str | None) -> int | None:
    if raw is None:
        return _this_year()
    if not raw.isdigit() or not _FIRST_YEAR <= int(raw) <= _this_year():
        return None
    return int(raw)


# --- local login and logout -------------------------------------------------------------------------
@router.get("/dashboard/login")
def login_form(request: Request) -> Response:
    return _login_page(request)


def _login_page(request: Request, status: int = 200, message: str = "") -> Response:
    c = ctx(request)
    key, pending = c.sessions.begin_login()
    response = page(
        request, "login.html", status, csrf=pending.csrf, oidc=c.oidc is not None, message=message
    )
    set_cookie(request, response, LOGIN_COOKIE, key, max_age=600)
    return response


@router.post("/dashboard/login")
async def login(request: Request) -> Response:
    c = ctx(request)
    form = await request.form()
    name, password = str(form.get("username", "")), str(form.get("password", ""))
    pending = c.sessions.login_in_progress(request.cookies.get(LOGIN_COOKIE), consume=True)
    if pending is None or not same(pending.csrf, str(form.get("csrf", ""))):
        await run_in_threadpool(
            audit,
            request,
            None,
            what="HTTP 403: login refused, CSRF token",
            outcome="minor",
            login=name,
            access=Access(interaction="login"),
        )
        return problem(
            request, 403, "Form expired", "The login form was not this browser's or has expired: try again."
        )
    person = await run_in_threadpool(authenticate, c.settings.effective_users_file, name, password)
    if person is None:
        await run_in_threadpool(
            audit,
            request,
            None,
            what="HTTP 401: login failed",
            outcome="minor",
            login=name,
            access=Access(interaction="login"),
        )
        return _login_page(request, 401, "The user name or password is not right.")
    return await _logged_in(request, person, via="local")


async def _logged_in(request: Request, person: User, *, via: str, then: str = "redirect") -> Response:
    sid, _ = ctx(request).sessions.start(person, via)
    await run_in_threadpool(audit, request, person, what=f"login ({via})", access=Access(interaction="login"))
    if then == "redirect":
        response: Response = RedirectResponse(f"{page_root(request)}/dashboard", 303)
    else:
        response = page(request, "continue.html")
    set_cookie(request, response, SESSION_COOKIE, sid)
    drop_cookie(request, response, LOGIN_COOKIE)
    return response


@router.post("/dashboard/logout")
async def logout(request: Request) -> Response:
    c = ctx(request)
    sid = request.cookies.get(SESSION_COOKIE)
    session = c.sessions.get(sid)
    form = await request.form()
    if session is None:
        return to_login(request)
    if not same(session.csrf, str(form.get("csrf", ""))):
        await run_in_threadpool(
            audit, request, session.user, what="HTTP 403: logout refused, CSRF token", outcome="minor"
        )
        return problem(request, 403, "Not allowed", "The logout form was not this page's.")
    c.sessions.end(sid)
    await run_in_threadpool(audit, request, session.user, what="logout", access=Access(interaction="logout"))
    return to_login(request)


# --- OpenID Connect --------------------------------------------------------------------------------
def _callback(c: AppContext) -> str:
    return f"{c.settings.base_url}/dashboard/oidc/callback"


@router.get("/dashboard/login/oidc")
async def oidc_login(request: Request) -> Response:
    c = ctx(request)
    if c.oidc is None:
        return problem(request, 404, "Not configured", "No identity provider is configured.")
    try:
        started = await run_in_threadpool(c.oidc.start, _callback(c))
    except OidcError as e:
        return problem(request, 502, "Identity provider unavailable", str(e))
    key, _ = c.sessions.begin_login(state=started.state, nonce=started.nonce, verifier=started.verifier)
    response = RedirectResponse(started.url, 303)
    # Lax, not Strict: the identity provider's redirect back is a navigation from another site.
    set_cookie(request, response, OIDC_COOKIE, key, max_age=600, samesite="lax", path="/dashboard/oidc")
    return response


@router.get("/dashboard/oidc/callback")
async def oidc_callback(request: Request) -> Response:
    c = ctx(request)
    q = request.query_params
    pending = c.sessions.login_in_progress(request.cookies.get(OIDC_COOKIE), consume=True)
    if c.oidc is None or pending is None or not same(pending.data.get("state"), q.get("state")):
        await run_in_threadpool(
            audit,
            request,
            None,
            what="HTTP 403: OIDC login refused, state",
            outcome="minor",
            access=Access(interaction="login"),
        )
        return problem(
            request, 403, "Login expired", "This login was not started here or has expired: try again."
        )
    try:
        if not q.get("code"):
            raise OidcError(f"the identity provider answered {q.get('error', 'no code')!r}")
        person = await run_in_threadpool(
            c.oidc.finish,
            q["code"],
            _callback(c),
            nonce=pending.data["nonce"],
            verifier=pending.data["verifier"],
        )
    except OidcError as e:
        await run_in_threadpool(
            audit,
            request,
            None,
            what=f"HTTP 401: OIDC login failed: {e}",
            outcome="minor",
            access=Access(interaction="login"),
        )
        return problem(request, 401, "Login failed", "The identity provider's answer was not accepted.")
    if not person.organization:
        person = User(person.login, person.name, c.settings.organization, person.role)
    return await _logged_in(request, person, via=c.oidc.issuer, then="continue")


# --- the stylesheet ---------------------------------------------------------------------------------
@router.get("/dashboard/static/dashboard.css")
def stylesheet() -> Response:
    from importlib.resources import files

    css = files("adapter.dashboard").joinpath("static/dashboard.css").read_text(encoding="utf-8")
    return Response(css, media_type="text/css", headers={"Cache-Control": "max-age=3600"})
