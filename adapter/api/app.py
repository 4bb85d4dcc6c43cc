"""The FastAPI application: routers, and every error answered as an OperationOutcome."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from adapter.api import metadata, operations, rest
from adapter.api.context import AppContext
from adapter.api.responses import error_response
from adapter.config import Settings
from adapter.fhir.outcome import FhirError
from adapter.store.repository import Store

log = logging.getLogger("voorzorg.api")

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
}


def create_app(settings: Settings | None = None, store: Store | None = None) -> FastAPI:
    settings = settings or Settings.from_env()
    if store is None:
        store = Store(settings.effective_database_url)
        store.migrate()
    app = FastAPI(title="VoorZorg FHIR adapter", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.ctx = AppContext(settings, store)

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

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, e: RequestValidationError) -> Response:
        return error_response(FhirError.one(400, "The request is malformed", code="invalid"))

    @app.exception_handler(Exception)
    async def unexpected(_: Request, e: Exception) -> Response:
        # Log the type only: exception texts can carry client data (BSN, names) from the payload.
        log.error("unexpected error while handling a request: %s", type(e).__name__)
        return error_response(
            FhirError.one(500, "Internal error; the request was not completed", code="exception")
        )

    @app.middleware("http")
    async def security_headers(request: Request, call_next: object) -> Response:
        response: Response = await call_next(request)  # type: ignore[operator]
        for k, v in SECURITY_HEADERS.items():
            response.headers.setdefault(k, v)
        return response

    app.include_router(metadata.router)
    app.include_router(operations.router)
    app.include_router(rest.router)
    return app
