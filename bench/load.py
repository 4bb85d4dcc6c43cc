"""Send prepared bodies to the adapter from a few client threads, each on its own keep-alive session."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import requests

from bench.auth import session


@dataclass
class LoadResult:
    name: str
    concurrency: int
    sent: int
    wall_s: float
    latencies_s: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> int:
        return len(self.latencies_s)

    @property
    def per_second(self) -> float:
        return self.ok / self.wall_s if self.wall_s > 0 else float("nan")


def send_all(
    name: str,
    url: str,
    bodies: Sequence[bytes],
    concurrency: int,
    expect: str | None = None,
    timeout: float = 60.0,
    headers: Mapping[str, str] | None = None,
    ok_statuses: tuple[int, ...] = (200,),
) -> LoadResult:
    """POST every body once to `url`; a request counts when it answers 200 (or one of `ok_statuses`)
    and holds `expect`. `headers`: the credentials to send (default: `bench.auth.auth_headers()`)."""
    result = LoadResult(name, concurrency, len(bodies), 0.0)
    lock = threading.Lock()
    next_index = iter(range(len(bodies)))
    barrier = threading.Barrier(concurrency + 1)

    def worker() -> None:
        latencies: list[float] = []
        errors: list[str] = []
        with session(headers) as s:
            barrier.wait()
            while True:
                with lock:
                    i = next(next_index, None)
                if i is None:
                    break
                t0 = time.perf_counter()
                try:
                    r = s.post(url, data=bodies[i], timeout=timeout)
                    elapsed = time.perf_counter() - t0
                    if r.status_code not in ok_statuses:
                        errors.append(f"HTTP {r.status_code}: {r.text[:300]}")
                    elif expect is not None and expect.encode() not in r.content:
                        errors.append(f"answer lacks {expect!r}: {r.text[:300]}")
                    else:
                        latencies.append(elapsed)
                except requests.RequestException as e:
                    errors.append(f"{type(e).__name__}: {e}")
        with lock:
            result.latencies_s.extend(latencies)
            result.errors.extend(errors)

    threads = [threading.Thread(target=worker, name=f"client-{n}") for n in range(concurrency)]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    result.wall_s = time.perf_counter() - start
    return result


def search_total(base: str, query: str, headers: Mapping[str, str] | None = None) -> int:
    """`total` of a searchset (how many the adapter holds), e.g. `Task?status=accepted`."""
    with session(headers) as s:
        r = s.get(f"{base}/{query}", params={"_count": "1"}, timeout=30)
        r.raise_for_status()
        total: int = r.json()["total"]
        return total


def probe(base: str, query: str, headers: Mapping[str, str] | None = None) -> int:
    """The HTTP status of one authenticated GET."""
    with session(headers) as s:
        return s.get(f"{base}/{query}", timeout=30).status_code


def merged(name: str, parts: Sequence[LoadResult]) -> LoadResult:
    """Several rounds of one run as one result: their latencies and errors together, their walls summed."""
    out = LoadResult(name, parts[0].concurrency, sum(p.sent for p in parts), sum(p.wall_s for p in parts))
    for p in parts:
        out.latencies_s.extend(p.latencies_s)
        out.errors.extend(p.errors)
    return out
