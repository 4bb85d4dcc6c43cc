"""One daemon thread per background duty (the outbox worker, the Subscription notifier, the export sweeper),
started with the app and stopped with it, the same way for each."""

from __future__ import annotations

import threading


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
