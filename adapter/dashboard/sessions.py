"""Browser sessions of the dashboard, kept on the server: the cookie holds only a random id.

A session ends when it has not been used for the idle time (`VOORZORG_DASHBOARD_SESSION_MINUTES`, 30), at
logout, and when the server restarts (kept in memory: `serve` is one process; a restart asks everyone
to log in again, which is the safe side). Each session has its own CSRF token for the forms it posts.
Logins in progress (the login form, an OpenID Connect round trip) are `Pending` entries of their own,
with a short life, bound to the browser by a cookie of their own; anyone can start one (the login page is
public), so at most `max_pending` are kept: a flood of login pages pushes out the oldest instead of filling
the server's memory.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from adapter.dashboard.users import User

SESSION_COOKIE = "vz_dashboard"
LOGIN_COOKIE = "vz_login"  # binds a login in progress (form CSRF, OIDC state) to the browser
PENDING_SECONDS = 600.0
MAX_PENDING = 10_000


@dataclass
class Session:
    user: User
    via: str  # "local" or the OIDC issuer
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    last_seen: float = field(default_factory=time.monotonic)


@dataclass
class Pending:
    """A login in progress: the form's CSRF token, or an OIDC round trip's state, nonce and verifier."""

    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    data: dict[str, Any] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)


def same(a: str | None, b: str | None) -> bool:
    """Constant-time comparison of two secrets; False when either is missing."""
    return bool(a) and bool(b) and hmac.compare_digest(str(a), str(b))


class Sessions:
    def __init__(
        self,
        idle_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        max_pending: int = MAX_PENDING,
    ) -> None:
        self.idle_seconds = idle_seconds
        self.max_pending = max_pending
        self._clock = clock
        self._lock = threading.Lock()
        self._sessions: dict[str, Session] = {}
        self._pending: dict[str, Pending] = {}

    def start(self, user: User, via: str) -> tuple[str, Session]:
        sid = secrets.token_urlsafe(32)
        session = Session(user, via, last_seen=self._clock())
        with self._lock:
            self._sessions[sid] = session
        return sid, session

    def get(self, sid: str | None) -> Session | None:
        """The session, its idle time restarted; None when there is none or it has expired."""
        if not sid:
            return None
        now = self._clock()
        with self._lock:
            self._forget_expired(now)
            session = self._sessions.get(sid)
            if session is not None:
                session.last_seen = now
            return session

    def end(self, sid: str | None) -> None:
        with self._lock:
            self._sessions.pop(sid or "", None)

    def begin_login(self, **data: Any) -> tuple[str, Pending]:
        key = secrets.token_urlsafe(32)
        pending = Pending(data=dict(data), started=self._clock())
        with self._lock:
            self._forget_expired(self._clock())
            while len(self._pending) >= self.max_pending:  # the oldest login in progress makes room
                del self._pending[next(iter(self._pending))]
            self._pending[key] = pending
        return key, pending

    def login_in_progress(self, key: str | None, *, consume: bool = False) -> Pending | None:
        if not key:
            return None
        with self._lock:
            self._forget_expired(self._clock())
            return self._pending.pop(key, None) if consume else self._pending.get(key)

    def _forget_expired(self, now: float) -> None:
        for sid in [s for s, v in self._sessions.items() if now - v.last_seen > self.idle_seconds]:
            del self._sessions[sid]
        while self._pending:  # in the order they began: the expired ones come first
            oldest = next(iter(self._pending))
            if now - self._pending[oldest].started <= PENDING_SECONDS:
                break
            del self._pending[oldest]
