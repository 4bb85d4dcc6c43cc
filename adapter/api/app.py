"""The FastAPI application: routers, and every error answered as an OperationOutcome."""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from adapter.api import (
    audit_events,
    auth,
    care,
    consult,
    metadata,
    notifications,
    operations,
    outbox,
    rest,
    sharing,
    themes,
    validation,
)
from adapter.api.context import AppContext
from adapter.api.guard import gate
from adapter.api.responses import SECURITY_HEADERS, error_response, internal_error
from adapter.composition import Adapter, compose
from adapter.config import Settings
from adapter.fhir.outcome import FhirError
from adapter.store.deadline import DEADLINE, Deadline, TimedOut
from adapter.store.engine import Store

log = logging.getLogger("voorzorg.api")


def create_app(settings: Settings | None = None, store: Store | None = None) -> FastAPI:
    """The API of an adapter composed from `settings` (on `store`'s database when given)."""
    return api(compose(settings or Settings.from_env(), store))


#: The routers, in the order their routes are tried: the specific ones before the generic REST ones.
ROUTERS = (
    auth.router,
    metadata.router,
    audit_events.router,
    care.router,
    validation.router,
    operations.router,
    outbox.router,
    themes.router,
    sharing.router,
    consult.router,
    notifications.router,  # POST /Task: notified pull
    rest.router,
)


def api(adapter: Adapter) -> FastAPI:
    """The FastAPI app of a composed adapter: its routers, its errors as OperationOutcomes, its gate."""
    settings = adapter.settings
    # The in-process worker delivers the outbox while the app runs (VOORZORG_WORKER=in-process).
    worker = adapter.worker() if settings.worker == "in-process" and adapter.exchange.peers else None

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if worker is not None:
            worker.start()
        try:
            yield
        finally:
            if worker is not None:
                worker.stop()

    app = FastAPI(
        title="VoorZorg FHIR adapter", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan
    )
    app.state.ctx = AppContext(adapter)
    app.state.worker = worker
    _answer_errors_as_operation_outcomes(app)
    _wrap(app, settings)
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
