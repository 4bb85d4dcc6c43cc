"""A fault proxy in front of a peer (the Medplum server): it forwards, or refuses, answers 503, hangs or
delays — switchable while a test runs — and keeps what it got and what it forwarded, in order.

    proxy = FaultProxy(medplum); proxy.start()      # the `faults` fixture does this (and stops them)
    proxy.mode = "hang"                              # pass | refuse | 503 | hang | delay (proxy.delay s)
    proxy.hold(1)                                    # the next request waits until proxy.release.set()
    proxy.hold(1, applied=True)                      # ... forwarded first: applied, the answer withheld
    proxy.forwarded_since(n)                         # what reached the peer after the n-th arrival

`refuse` accepts the connection and closes it at once, unread (what the client sees of a refused
connection: a ConnectionError) — counted, so a test knows the worker is trying. `hang` reads the
request and never answers nor forwards it (until the proxy stops). The mode is taken when a request
arrives: a request that hangs keeps hanging after the mode changes.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests

MODES = ("pass", "refuse", "503", "hang", "delay")
FORWARDED_HEADERS = ("content-type", "if-match", "if-none-exist", "prefer", "x-request-id")


@dataclass
class Seen:
    """One request as the proxy got it."""

    arrived: float
    method: str
    path: str
    request_id: str
    body: dict[str, Any]
    outcome: str  # forwarded | 503 | hung | held
    forwarded: float | None = None  # when it reached the peer
    status: int | None = None  # the peer's answer

    @property
    def message_id(self) -> int | None:
        parts = self.request_id.split("-")
        return int(parts[2]) if len(parts) > 2 and parts[2].isdigit() else None

    @property
    def methods(self) -> list[str]:
        """The methods of a transaction's entries (or of the request itself)."""
        entries = self.body.get("entry") if self.body.get("resourceType") == "Bundle" else None
        return [e["request"]["method"] for e in entries] if entries else [self.method]


@dataclass
class FaultProxy:
    target: str
    mode: str = "pass"
    delay: float = 0.0
    seen: list[Seen] = field(default_factory=list)
    refused: int = 0
    arrived: threading.Event = field(default_factory=threading.Event)  # set at every arrival
    held: threading.Event = field(default_factory=threading.Event)  # a held request arrived
    release: threading.Event = field(default_factory=threading.Event)
    _holding: int = 0
    _applied: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stopped: threading.Event = field(default_factory=threading.Event)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FaultProxy:
        proxy = self

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def verify_request(self, request: Any, client_address: Any) -> bool:
                if proxy.mode != "refuse":
                    return True
                with proxy._lock:
                    proxy.refused += 1
                request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                proxy.arrived.set()
                return False  # closed at once (reset), unread

            def handle_error(self, request: Any, client_address: Any) -> None:
                return None  # a client that gave up on a hanging request: nothing to report

        self._server = Server(("127.0.0.1", 0), _Handler)
        self._server.proxy = self  # type: ignore[attr-defined]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        self.release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def hold(self, n: int = 1, *, applied: bool = False) -> None:
        """The next `n` requests wait for `release`: before they are forwarded, or (`applied`) after
        the peer applied them, their answer withheld."""
        with self._lock:
            self._holding, self._applied = n, applied
        self.held.clear()
        self.release.clear()

    # --- what happened ---
    def forwarded_since(self, n: int = 0) -> list[Seen]:
        """What reached the peer of the requests that arrived after the first `n`, in forwarding order."""
        with self._lock:
            done = [s for s in self.seen[n:] if s.forwarded is not None]
        return sorted(done, key=lambda s: s.forwarded or 0.0)

    def message_ids(self) -> list[int]:
        """The outbox message ids that reached the peer, in order (one per request sent)."""
        return [m for s in self.forwarded_since() if (m := s.message_id) is not None]

    # --- serving ---
    def _serve(self, h: _Handler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        seen = Seen(time.monotonic(), h.command, h.path, h.headers.get("X-Request-Id", ""), _json(raw), "")
        with self._lock:
            self.seen.append(seen)
            mode, held = self.mode, self._holding > 0
            if held:
                self._holding -= 1
            applied = self._applied
        self.arrived.set()
        if held:
            self._held(h, seen, raw, applied)
        elif mode == "hang":
            seen.outcome = "hung"
            self._stopped.wait(120)
            h.close_connection = True
        elif mode == "503":
            seen.outcome = "503"
            _answer(h, 503, b'{"resourceType":"OperationOutcome"}', {"Content-Type": "application/fhir+json"})
        else:
            if mode == "delay":
                time.sleep(self.delay)
            _answer(h, *self._forward(h, seen, raw))

    def _held(self, h: _Handler, seen: Seen, raw: bytes, applied: bool) -> None:
        seen.outcome = "held"
        answer = self._forward(h, seen, raw) if applied else None
        self.held.set()
        self.release.wait(120)
        if self._stopped.is_set() and answer is None:
            h.close_connection = True
            return
        _answer(h, *(answer or self._forward(h, seen, raw)))

    def _forward(self, h: _Handler, seen: Seen, raw: bytes) -> tuple[int, bytes, dict[str, str]]:
        headers = {k: v for k, v in h.headers.items() if k.lower() in FORWARDED_HEADERS}
        url = f"{self.target}{h.path}"
        r = requests.request(h.command, url, data=raw or None, headers=headers, timeout=30)
        seen.forwarded, seen.status = time.monotonic(), r.status_code
        seen.outcome = seen.outcome or "forwarded"
        kept = {k: v for k, v in r.headers.items() if k.lower() in ("content-type", "etag", "location")}
        return r.status_code, r.content, kept


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _any(self) -> None:
        self.server.proxy._serve(self)  # type: ignore[attr-defined]

    do_GET = do_POST = do_PUT = do_DELETE = _any

    def log_message(self, *_: Any) -> None:
        return None


def _answer(h: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict[str, str]) -> None:
    try:
        h.send_response(status)
        for k, v in headers.items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)
    except OSError:
        h.close_connection = True  # the client gave up meanwhile


def _json(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
