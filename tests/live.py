"""A real uvicorn server for an ASGI app, on a free 127.0.0.1 port, in a background thread.

The other party's FHIR clients (fhirclient, fhirpy) speak real HTTP through `requests`, so the tests
that play an obstetric system need a real socket rather than the in-process TestClient::

    with LiveServer(app) as server:
        requests.get(f"{server.url}/metadata", headers=auth_headers)

The socket is bound when the object is made, so `url` is known before the app is: pass
`app_factory=lambda base_url: create_app(replace(settings, base_url=base_url), store)` to let the
adapter write its own address into `fullUrl`s and paging links.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

import requests
import uvicorn

ASGIApp = Callable[..., Any]


class LiveServer:
    """Start with `start()` (or `with`), stop with `stop()`; `url` is the base without a trailing slash."""

    def __init__(
        self,
        app: ASGIApp | None = None,
        *,
        app_factory: Callable[[str], ASGIApp] | None = None,
        host: str = "127.0.0.1",
        ready_path: str = "/metadata",
        ready_headers: Mapping[str, str] | None = None,
        startup_timeout: float = 20.0,
        log_level: str = "warning",
    ) -> None:
        if (app is None) == (app_factory is None):
            raise ValueError("give exactly one of app and app_factory")
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, 0))
        self.host = host
        self.port: int = self._sock.getsockname()[1]
        self.url = f"http://{host}:{self.port}"
        self.app: ASGIApp = app if app is not None else app_factory(self.url)  # type: ignore[misc]
        self._ready_path = ready_path
        self._ready_headers = dict(ready_headers or {})
        self._startup_timeout = startup_timeout
        self._config = uvicorn.Config(
            self.app, log_level=log_level, lifespan="off", access_log=False, timeout_keep_alive=5
        )
        self._server = uvicorn.Server(self._config)
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    # --- lifecycle ---------------------------------------------------------------------------
    def start(self) -> LiveServer:
        if self._thread is not None:
            raise RuntimeError("the server is already started")
        self._thread = threading.Thread(target=self._run, name=f"uvicorn-{self.port}", daemon=True)
        self._thread.start()
        self._wait_until_ready()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            self._server.should_exit = True
            thread.join(timeout)
            if thread.is_alive():  # a stuck request: stop waiting for it
                self._server.force_exit = True
                thread.join(timeout)
        self._sock.close()

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- internals ---------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            # Not the main thread: uvicorn leaves the process's signal handlers alone.
            self._server.run(sockets=[self._sock])
        except BaseException as e:  # reported by start() instead of dying silently in the thread
            self._error = e

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + self._startup_timeout
        last: str = "no answer"
        while time.monotonic() < deadline:
            if self._error is not None:
                raise RuntimeError(f"the live server failed to start: {self._error!r}") from self._error
            if self._thread is not None and not self._thread.is_alive():
                raise RuntimeError("the live server thread ended before it answered")
            if self._server.started:
                try:
                    r = requests.get(self.url + self._ready_path, headers=self._ready_headers, timeout=2)
                    if r.status_code < 500:
                        return
                    last = f"HTTP {r.status_code}"
                except requests.RequestException as e:
                    last = type(e).__name__
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"the live server did not answer {self._ready_path} in time ({last})")
