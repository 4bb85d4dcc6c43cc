"""One daemon thread per background duty (the outbox worker, the Subscription notifier, the export sweeper),
started with the app and stopped with it, the same way for each."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable


def repeat(
    stop: threading.Event, one_round: Callable[[], int], pause: float, log: logging.Logger, what: str
) -> None:
    """Run `one_round` until `stop` is set, pausing `pause` seconds after a round that found nothing to do
    (0) or failed: the database or a peer briefly away, the next round tries again. A failure is logged by
    its type only (no client data)."""
    while not stop.is_set():
        try:
            done = one_round()
        except Exception as e:
            log.error("%s: %s", what, type(e).__name__)
            done = 0
        if not done:
            stop.wait(pause)


class Background:
    """Runs `self.run(stop)` in a daemon thread named `thread_name` between `start()` and `stop()`.

    `run` returns when the event is set; it takes the event as an argument so that a caller (a test, the
    `worker` command) can run it in its own thread with an event of its own."""

    thread_name = "voorzorg-background"

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def wanted(self) -> bool:
        """Whether there is anything to do at all (no thread otherwise)."""
        return True

    def run(self, stop: threading.Event | None = None) -> None:  # pragma: no cover - always overridden
        raise NotImplementedError

    def start(self) -> None:
        if self._thread is not None or not self.wanted():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self.run, name=self.thread_name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
