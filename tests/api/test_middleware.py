"""The middleware around the routes are plain ASGI (issue #19, adapter/api/middleware.py): what each layer
does with the messages going out, on small ASGI apps of the tests' own."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.middleware.base import BaseHTTPMiddleware
from starlette.types import Message, Receive, Scope, Send

from adapter.api.app import create_app
from adapter.api.middleware import AccessLog, Deadlined, SecurityHeaders
from adapter.api.responses import SECURITY_HEADERS
from adapter.config import Settings
from adapter.store.deadline import DEADLINE, TimedOut
from adapter.store.engine import Store

SCOPE: dict[str, Any] = {"type": "http", "method": "GET", "path": "/x", "headers": [], "query_string": b""}


async def _receive() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


def _serve(app: Any) -> list[Message]:
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(app(dict(SCOPE), _receive, send))
    return sent


def test_no_layer_is_a_base_http_middleware(store: Store, settings: Settings) -> None:
    app = create_app(settings, store)
    assert app.user_middleware, "the app has its middleware"
    assert not [m for m in app.user_middleware if issubclass(m.cls, BaseHTTPMiddleware)]


def test_a_late_answer_is_dropped_for_the_503_and_its_work_refused() -> None:
    refused: list[bool] = []

    async def slow(scope: Scope, receive: Receive, send: Send) -> None:
        await asyncio.sleep(0.3)
        deadline = DEADLINE.get()
        assert deadline is not None and deadline.cancelled
        try:
            deadline.committing()
        except TimedOut:
            refused.append(True)
        await send({"type": "http.response.start", "status": 201, "headers": []})
        await send({"type": "http.response.body", "body": b"late"})

    sent = _serve(Deadlined(slow, 0.1))
    assert [m["status"] for m in sent if m["type"] == "http.response.start"] == [503]
    assert b"late" not in b"".join(m.get("body", b"") for m in sent)
    assert refused == [True]  # and the call returned only once the abandoned work had wound down


def test_an_answer_in_time_streams_through_every_layer_chunk_by_chunk() -> None:
    """Each chunk reaches the client before the app makes the next one: nothing is buffered."""
    sent: list[Message] = []

    async def streams(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"x-frame-options", b"SAME")]})
        for i in range(3):
            await send({"type": "http.response.body", "body": b"%d" % i, "more_body": True})
            await asyncio.sleep(0)
            assert sent[-1].get("body") == b"%d" % i, "the chunk went out before the next was made"
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def send(message: Message) -> None:
        sent.append(message)

    app = AccessLog(SecurityHeaders(Deadlined(streams, 5)))
    asyncio.run(app(dict(SCOPE), _receive, send))
    start = sent[0]
    headers = {k.decode().lower(): v.decode() for k, v in start["headers"]}
    assert start["status"] == 200
    assert headers["x-frame-options"] == "SAME"  # the response's own header stays
    assert {k.lower() for k in SECURITY_HEADERS} <= set(headers)
    assert b"".join(m.get("body", b"") for m in sent[1:]) == b"012"


def test_an_answer_after_a_commit_is_waited_for() -> None:
    async def commits_then_dawdles(scope: Scope, receive: Receive, send: Send) -> None:
        deadline = DEADLINE.get()
        assert deadline is not None
        deadline.committing()
        deadline.settled(committed=True)
        await asyncio.sleep(0.3)
        await send({"type": "http.response.start", "status": 201, "headers": []})
        await send({"type": "http.response.body", "body": b"done"})

    sent = _serve(Deadlined(commits_then_dawdles, 0.1))
    assert [m["status"] for m in sent if m["type"] == "http.response.start"] == [201]
