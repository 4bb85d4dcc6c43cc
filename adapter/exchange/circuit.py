"""A circuit breaker per peer, shared by every worker through the database (table `peer_circuit`).

- `closed`: messages go. Every request that gets no answer (connection refused or reset, a timeout) or
  a busy or broken one (408, 429, 5xx) counts a failure; any other answer clears them.
- `open`: after `failures` consecutive failures nothing goes to the peer until `interval` has passed.
- `half-open`: then one worker takes one message as the probe (`Outbox.take`): a single request, no
  retries within it. An answer closes the circuit; none opens it for another interval.

So a peer that is down or hangs costs one request per interval, however much is queued for it, and the
worker's loops for the other peers (one per peer) go on. `voorzorg-adapter outbox list` shows each peer's
circuit.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from adapter.store.engine import Store
from adapter.store.queue import CLOSED, HALF_OPEN, OPEN, Circuit
from adapter.store.session import Session

__all__ = ["CLOSED", "OPEN", "Circuit", "CircuitSettings", "Circuits"]


@dataclass(frozen=True)
class CircuitSettings:
    failures: int = 5  # consecutive failed requests that open the circuit
    interval: float = 30.0  # seconds between probes while it is open


class Circuits:
    def __init__(
        self, store: Store, settings: CircuitSettings | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self.store = store
        self.settings = settings or CircuitSettings()
        self.clock = clock

    def failed(self, peer: str, error: str, *, probe: bool = False) -> str:
        """One request to `peer` got no answer (or a busy one); the circuit's state now."""
        reopen = int((self.clock() + self.settings.interval) * 1000)

        def work(s: Session) -> str:
            c = s.queue.failure(peer, error)
            if probe or (c.state == CLOSED and c.failures >= self.settings.failures):
                s.queue.set_circuit(peer, OPEN, retry_at=reopen)
                return OPEN
            return c.state

        return self.store.write(work)

    def answered(self, peer: str) -> None:
        """The peer answered: closed, its failures forgotten."""
        self.store.write(lambda s: s.queue.set_circuit(peer, CLOSED))

    def unprobed(self, peer: str) -> None:
        """The probe sent nothing after all (its message was withdrawn, say): the next message probes."""
        now = int(self.clock() * 1000)
        self.store.write(lambda s: s.queue.set_circuit(peer, OPEN, retry_at=now, only=(HALF_OPEN,)))
