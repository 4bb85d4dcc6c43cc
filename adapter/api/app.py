"""The FastAPI application: routers, and every error answered as an OperationOutcome."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from adapter.api import (
    audit_events,
    auth,
    care,
    consult,
    dashboard,
    export,
    measures,
    metadata,
    notifications,
    operations,
    outbox,
    path,
    rest,
    sharing,
    subscriptions,
    themes,
    validation,
)
from adapter.api.context import AppContext, check_text
from adapter.api.guard import gate
from adapter.api.responses import SECURITY_HEADERS, error_response, internal_error
from adapter.composition import Adapter, compose
from adapter.config import Settings
from adapter.fhir.models import is_resource_type
from adapter.fhir.outcome import FhirError
from adapter.store.deadline import DEADLINE, Deadline, TimedOut
from adapter.store.engine import Store

log = logging.getLogger("voorzorg.api")
access_log = logging.getLogger("voorzorg.access")


def create_app(settings: Settings | None = None, store: Store | None = None) -> FastAPI:
    """The API of an adapter composed from `settings` (on `store`'s database when given)."""
    return api(compose(settings or Settings.from_env(), store))


#: The routers, in the order their routes are tried: the specific ones before the generic REST ones.
ROUTERS = (
    auth.router,
    dashboard.router,  # the coordinator's dashboard (HTML, its own login)
    metadata.router,
    audit_events.router,
    care.router,
    validation.router,
    operations.router,
    export.router,  # $export, its status and files, POST /Group
    outbox.router,
    themes.router,
    sharing.router,
    consult.router,
    path.router,  # the intake visit, ending, the transfer
    measures.router,  # Measure/{id}/$evaluate-measure
    notifications.router,  # POST /Task: notified pull
    subscriptions.router,  # POST, PUT /Subscription, $status
    rest.router,
)


def api(adapter: Adapter) -> FastAPI:
    """The FastAPI app of a composed adapter: its routers, its errors as OperationOutcomes, its gate."""
    settings = adapter.settings
    # The in-process worker delivers the outbox while the app runs (VOORZORG_WORKER=in-process), and
    # the notifier the Subscriptions' notifications (it idles while there are none).
    in_process = settings.worker == "in-process"
    worker = adapter.worker() if in_process and adapter.exchange.peers else None
    notifier = adapter.exchange.notifier(adapter.store) if in_process else None

    # ... and the export sweeper deletes expired exports' files (adapter/export/runner.py).
    background = [b for b in (worker, notifier, adapter.exports.sweeper) if b is not None]

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        for running in background:
            running.start()
        adapter.exports.resume()  # the exports a previous run accepted and did not finish
        try:
            yield
        finally:
            for running in background:
                running.stop()

    app = FastAPI(
        title="VoorZorg FHIR adapter",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
        dependencies=[Depends(check_text)],  # every route: no NUL or lone surrogate in path or query
    )
    app.state.ctx = AppContext(adapter)
    _ = app.state.ctx.issuer_key.kid  # the embedded issuer key exists once the app does (for `token`)
    app.state.worker = worker
    app.state.notifier = notifier
    _answer_errors_as_operation_outcomes(app)
    _wrap(app, settings)
    _log_access(app)
    for router in ROUTERS:
        app.include_router(router)
    return app


def _answer_errors_as_operation_outcomes(app: FastAPI) -> None:
    @app.exception_handler(FhirError)
    async def fhir_error(_: Request, e: FhirError) -> Response:
        return error_response(e)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, e: StarletteHTTPException) -> Response:
        text = {404: "No such endpoint", 405: "This method is not allowed here"}.get(
            e.status_code, str(e.detail)
        )
        code = {404: "not-found", 405: "not-supported"}.get(e.status_code, "processing")
        err = FhirError.one(e.status_code, text, code=code)
        err.headers.update(e.headers or {})
        return error_response(err)

    @app.exception_handler(TimedOut)
    async def too_late(_: Request, e: TimedOut) -> Response:
        return error_response(timed_out())

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, e: RequestValidationError) -> Response:
        return error_response(FhirError.one(400, "The request is malformed", code="invalid"))

    @app.exception_handler(Exception)
    async def unexpected(_: Request, e: Exception) -> Response:
        return internal_error(e)


#: Requests answered 503 whose work is still winding down (kept so the task is not collected).
_ABANDONED: set[asyncio.Task[Response]] = set()


async def within_deadline(
    request: Request, call_next: Callable[[Request], Awaitable[Response]], seconds: float
) -> Response:
    """Run the request under a deadline (adapter.store.deadline): when the time is up, answer 503 only
    if no change was or is being committed — the work is then rolled back, never committed later —
    else wait for the request and answer what really happened."""
    deadline = Deadline(seconds)
    context = contextvars.copy_context()
    context.run(DEADLINE.set, deadline)
    task: asyncio.Task[Response] = asyncio.create_task(_answer(call_next, request), context=context)
    try:
        done, _ = await asyncio.wait({task}, timeout=seconds)
    except asyncio.CancelledError:
        task.cancel()
        raise
    if task in done or not deadline.cancel():
        return await task
    task.cancel()  # stops waiting for the answer; the work stops at its next database step (TimedOut)
    _ABANDONED.add(task)
    task.add_done_callback(_ABANDONED.discard)
    return error_response(timed_out())


async def _answer(call_next: Callable[[Request], Awaitable[Response]], request: Request) -> Response:
    return await call_next(request)


def timed_out() -> FhirError:
    text = "The request took too long and was stopped; nothing was changed"
    return FhirError.one(503, text, code="timeout")


def _wrap(app: FastAPI, settings: Settings) -> None:
    """The middleware, innermost first: the gate (authentication + audit) wraps the routes; the timeout
    wraps the gate, and the security headers go on every response, errors included."""
    app.middleware("http")(gate)

    @app.middleware("http")
    async def timeout(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        return await within_deadline(request, call_next, settings.request_timeout)

    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        for k, v in SECURITY_HEADERS.items():
            response.headers.setdefault(k, v)
        return response

    if settings.cors_origins:  # closed unless an operator lists origins
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "PUT"],
            allow_headers=["Authorization", "Content-Type", "If-Match", "Prefer"],
        )


class _NotHere(logging.Filter):
    """Drops uvicorn's own access log, which prints each request's query string (BSNs in searches)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return False


def _log_access(app: FastAPI) -> None:
    """The access log, outermost: method, the route as declared (`/Patient/{resource_id}`, never the
    path or query string the client sent: those carry identifiers), status and duration. It replaces
    uvicorn's, however uvicorn is started."""
    uvicorn_access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, _NotHere) for f in uvicorn_access.filters):
        uvicorn_access.addFilter(_NotHere())

    @app.middleware("http")
    async def log_access(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started, status = time.monotonic(), 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            client = request.client.host if request.client else "-"
            took = (time.monotonic() - started) * 1000
            access_log.info('%s "%s %s" %d %.0f ms', client, request.method, _route(request), status, took)


def _route(request: Request) -> str:
    """The route a request took, with its resource type filled in when it is one: `/Patient/{resource_id}`."""
    template: str | None = getattr(request.scope.get("route"), "path", None)
    if template is None:
        return "(no route)"
    rtype = request.path_params.get("resource_type")
    return template.replace("{resource_type}", str(rtype)) if is_resource_type(rtype) else template
