"""The FastAPI application: routers, and every error answered as an OperationOutcome."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
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
from adapter.api.context import AppContext, text_checked
from adapter.api.guard import Gate
from adapter.api.middleware import AccessLog, Deadlined, SecurityHeaders, timed_out
from adapter.api.responses import error_response, internal_error
from adapter.composition import Adapter, compose
from adapter.config import Settings
from adapter.fhir.outcome import FhirError
from adapter.store.deadline import TimedOut
from adapter.store.engine import Store

log = logging.getLogger("voorzorg.api")


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
        dependencies=[Depends(text_checked)],  # every route: no NUL or lone surrogate in path or query
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


def _wrap(app: FastAPI, settings: Settings) -> None:
    """The middleware (adapter.api.middleware, plain ASGI), innermost first: the gate (authentication +
    audit) wraps the routes; the deadline wraps the gate, and the security headers go on every response,
    errors included."""
    app.add_middleware(Gate)
    app.add_middleware(Deadlined, seconds=settings.request_timeout)
    app.add_middleware(SecurityHeaders)
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

    app.add_middleware(AccessLog)
