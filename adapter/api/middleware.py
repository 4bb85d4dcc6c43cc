"""The middleware around the routes, as plain ASGI (issue #19): each a class called with
`(scope, receive, send)` that watches or changes the messages going out, as Starlette's own GZip and CORS
middleware are. No task group, memory stream or re-wrapped response per layer (Starlette's
`BaseHTTPMiddleware`, which `@app.middleware("http")` makes, costs all three), and a streamed response
($export files) passes through each layer chunk by chunk.

Outermost first: `AccessLog`, (CORS,) `SecurityHeaders`, `Deadlined`, then the gate
(`adapter.api.guard.Gate`: authentication and audit) and the routes.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adapter.api.responses import SECURITY_HEADERS, FhirResponse, error_response
from adapter.fhir.models import is_resource_type
from adapter.fhir.outcome import FhirError
from adapter.store.deadline import DEADLINE, Deadline

access_log = logging.getLogger("voorzorg.access")

R = TypeVar("R")
T = TypeVar("T")


class HttpMiddleware:
    """An ASGI middleware of HTTP requests: `http(scope, receive, send)` handles them; any other scope
    (the lifespan) passes straight through to the app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.http(scope, receive, send)

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:  # pragma: no cover
        raise NotImplementedError


class AccessLog(HttpMiddleware):
    """The access log: method, the route as declared (`/Patient/{resource_id}`, never the path or query
    string the client sent: those carry identifiers), status and duration — one line per request, written
    when the response starts (500 when none did)."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started, logged = time.monotonic(), False

        async def logged_send(message: Message) -> None:
            nonlocal logged
            if message["type"] == "http.response.start" and not logged:
                logged = True
                _log(scope, message["status"], started)
            await send(message)

        try:
            await self.app(scope, receive, logged_send)
        finally:
            if not logged:
                _log(scope, 500, started)


def _log(scope: Scope, status: int, started: float) -> None:
    request = Request(scope)
    client = request.client.host if request.client else "-"
    took = (time.monotonic() - started) * 1000
    access_log.info('%s "%s %s" %d %.0f ms', client, request.method, route(request), status, took)


def route(request: Request) -> str:
    """The route a request took, with its resource type filled in when it is one: `/Patient/{resource_id}`."""
    template: str | None = getattr(request.scope.get("route"), "path", None)
    if template is None:
        return "(no route)"
    rtype = request.path_params.get("resource_type")
    return template.replace("{resource_type}", str(rtype)) if is_resource_type(rtype) else template


class SecurityHeaders(HttpMiddleware):
    """SECURITY_HEADERS on every response, errors included (a header the response set itself stays)."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for k, v in SECURITY_HEADERS.items():
                    headers.setdefault(k, v)
            await send(message)

        await self.app(scope, receive, with_headers)


# --- the request's deadline ------------------------------------------------------------------------
#: Requests answered 503 whose work is still winding down (kept so the task is not collected).
_ABANDONED: set[asyncio.Task[Any]] = set()


async def within_deadline(
    request: R, call_next: Callable[[R], Awaitable[T]], seconds: float
) -> T | FhirResponse:
    """Run the request under a deadline (adapter.store.deadline): when the time is up, answer 503 only
    if no change was or is being committed — the work is then rolled back, never committed later —
    else wait for the request and answer what really happened."""
    deadline = Deadline(seconds)
    context = contextvars.copy_context()
    context.run(DEADLINE.set, deadline)
    task: asyncio.Task[T] = asyncio.create_task(_answer(call_next, request), context=context)
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


async def _answer(call_next: Callable[[R], Awaitable[T]], request: R) -> T:
    return await call_next(request)


def timed_out() -> FhirError:
    text = "The request took too long and was stopped; nothing was changed"
    return FhirError.one(503, text, code="timeout")


class Deadlined(HttpMiddleware):
    """Every request under a deadline of `seconds` (`within_deadline`): until its response starts, the
    request may be answered 503 instead; the abandoned work then runs on to its next database step, which
    refuses it (TimedOut: its audit record says 503), and whatever it answers is not sent."""

    def __init__(self, app: ASGIApp, seconds: float) -> None:
        super().__init__(app)
        self.seconds = seconds

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        run = _Run(self.app, scope, receive, send)
        try:
            answer = await within_deadline(run, _Run.started, self.seconds)
            if isinstance(answer, _Run):
                await run.proceed()
            else:
                await run.abandon(answer)
        except asyncio.CancelledError:
            run.cancel()
            raise


class _Run:
    """The app working on one request. Its messages before the response starts are held until
    `within_deadline` has chosen between its answer and a 503: then they go out, or are dropped with
    everything it sends later."""

    def __init__(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        self.app, self.scope, self.receive, self.send = app, scope, receive, send
        self.head = asyncio.Event()  # the response started, or the app returned or raised without one
        self.decided = asyncio.Event()
        self.abandoned = False
        self.held: list[Message] = []
        self.work: asyncio.Task[None] | None = None

    async def started(self) -> _Run:
        """Starts the app — in the current context, which holds the deadline — and waits for its head."""
        self.work = asyncio.create_task(self._run())
        await self.head.wait()
        return self

    async def _run(self) -> None:
        try:
            await self.app(self.scope, self.receive, self._relay)
        finally:
            self.head.set()

    async def _relay(self, message: Message) -> None:
        if not self.decided.is_set():
            self.held.append(message)  # e.g. http.response.debug (TestClient) before the start
            if message["type"] != "http.response.start":
                return
            self.head.set()
            await self.decided.wait()
            held, self.held = self.held, []
            for m in held if not self.abandoned else ():
                await self.send(m)
            return
        if not self.abandoned:
            await self.send(message)

    async def proceed(self) -> None:
        """The app's own answer goes out; to its end (a streamed body chunk by chunk)."""
        self.decided.set()
        assert self.work is not None
        await self.work

    async def abandon(self, response: FhirResponse) -> None:
        """The 503 goes out instead; then the abandoned work is waited for, as it winds down."""
        self.abandoned = True
        self.decided.set()
        await response(self.scope, self.receive, self.send)
        assert self.work is not None
        await self.work

    def cancel(self) -> None:
        if self.work is not None:
            self.work.cancel()
