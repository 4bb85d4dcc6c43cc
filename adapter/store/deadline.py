"""The deadline of the request a unit of work serves: a request the client is told failed is not committed.

The HTTP server gives every request a `Deadline` (`VOORZORG_REQUEST_TIMEOUT`) and runs it with the
deadline in `DEADLINE`. A unit of work (`Store.write`) under a deadline

- waits for database locks no longer than the time left (SQLite `busy_timeout`, PostgreSQL
  `lock_timeout` and `statement_timeout`, set per transaction);
- claims the commit (`committing`) just before it commits — refused with `TimedOut` once the deadline
  has passed or the server has answered 503 — and the transaction is rolled back.

The server, when the time is up, `cancel`s the deadline: that succeeds unless a unit of work has claimed
the commit, in which case the server waits for the request to finish and answers what really happened.
Either the client is told 503 and nothing was committed, or the answer says what was committed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

#: The deadline of the request being served (None outside a request: commands, the worker, tests).
DEADLINE: ContextVar[Deadline | None] = ContextVar("voorzorg_deadline", default=None)

_RUNNING, _COMMITTING, _COMMITTED, _CANCELLED = "running", "committing", "committed", "cancelled"


class TimedOut(Exception):
    """The request's time ran out before its unit of work committed; the work was rolled back."""


class Deadline:
    """A point in time, and whether a commit or the 503 came first (thread-safe)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds
        self._state = _RUNNING
        self._lock = threading.Lock()

    def remaining(self) -> float:
        return self.at - time.monotonic()

    @property
    def cancelled(self) -> bool:
        return self._state == _CANCELLED

    @property
    def binding(self) -> bool:
        """Whether the deadline still limits the request: not once a change of it committed (the server
        then waits for its end, so its later work runs without the deadline's limits)."""
        return self._state != _COMMITTED

    def check(self) -> None:
        """TimedOut when the server answered 503 or the time is up (and nothing was committed yet)."""
        with self._lock:
            self._expire()

    def committing(self) -> None:
        """A unit of work is about to commit: from now on the server answers what really happened."""
        with self._lock:
            self._expire()
            self._state = _COMMITTING

    def settled(self, committed: bool) -> None:
        """The commit claimed by `committing` happened (the request can no longer fail quietly) or not."""
        with self._lock:
            if self._state == _COMMITTING:
                self._state = _COMMITTED if committed else _RUNNING

    def cancel(self) -> bool:
        """The server gives up on the request: True when nothing was or is being committed (answer 503);
        False when a commit came first (wait for the request and answer that)."""
        with self._lock:
            if self._state in (_COMMITTING, _COMMITTED):
                return False
            self._state = _CANCELLED
            return True

    def _expire(self) -> None:
        if self._state == _COMMITTED:
            return  # a request that already committed a change runs to its end
        if self._state == _CANCELLED or self.remaining() <= 0:
            self._state = _CANCELLED
            raise TimedOut(f"the request took longer than {self.seconds:g} s")


def current() -> Deadline | None:
    return DEADLINE.get()


def lock_wait_ms(default_ms: int) -> int:
    """How long a database lock may be waited for: the time left under a deadline, else `default_ms`."""
    deadline = DEADLINE.get()
    if deadline is None or not deadline.binding:
        return default_ms
    return max(1, min(default_ms, int(deadline.remaining() * 1000)))


@contextmanager
def outside_deadline() -> Iterator[None]:
    """Work that must happen whatever the request's deadline (the audit record of the answer sent)."""
    token = DEADLINE.set(None)
    try:
        yield
    finally:
        DEADLINE.reset(token)
