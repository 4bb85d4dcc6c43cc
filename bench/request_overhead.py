"""What one FHIR request costs in-process (issue #19): the app called through `httpx.ASGITransport`, no
network, no server. After one referral intake (examples/referral.json): GET /Patient/{id} and a search
(`Observation?patient=...`), each timed on its own, median and p95 per request, the CPU time the process
spent per request (all threads); and how many times one request hops to the thread pool
(`anyio.to_thread.run_sync`, counted on a few extra requests).

The caller is the test suite's: a token of the adapter's own issuer (role jgz, system/*.cruds), so every
request is authenticated and audited as in production.

`python -m bench.request_overhead [--reads 500] [--searches 200] [--backend sqlite|postgres]`
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio.to_thread
import httpx

from adapter.api.app import create_app
from adapter.config import Settings
from adapter.security.tokens import IssuerKey, mint
from bench.auth import FHIR_JSON, JGZ_ORGANIZATION
from bench.referrals import example
from bench.report import percentile, table
from bench.server import bench_store, per_backend

BASE = "http://testserver"
WARM_UP = 20
COUNTED = 10  # requests of each kind whose thread-pool hops are counted (not timed)
HEADERS = ["backend", "request", "n", "median ms", "p95 ms", "CPU ms per request", "thread-pool hops"]


def _token(settings: Settings) -> str:
    return mint(
        IssuerKey(settings.issuer_key_path),
        issuer=settings.issuer,
        audience=settings.effective_audience,
        client_id="voorzorg-bench",
        scope="system/*.cruds",
        role="jgz",
        organization=JGZ_ORGANIZATION,
        lifetime=3600,
    )


@contextmanager
def _counting_hops() -> Iterator[list[int]]:
    """Counts `anyio.to_thread.run_sync` calls (Starlette's and FastAPI's `run_in_threadpool`) meanwhile."""
    count = [0]
    original = anyio.to_thread.run_sync

    async def counted(*args: Any, **kwargs: Any) -> Any:
        count[0] += 1
        return await original(*args, **kwargs)

    anyio.to_thread.run_sync = counted  # type: ignore[assignment]
    try:
        yield count
    finally:
        anyio.to_thread.run_sync = original


async def _timed(send: Callable[[], Awaitable[httpx.Response]], n: int) -> tuple[list[float], float, float]:
    """Per-request latencies (ms) of `n` requests after a warm-up, the process's CPU time per request (ms,
    every thread: less swayed than latency by other work on the machine), and the hops of one request."""
    for _ in range(WARM_UP):
        (await send()).raise_for_status()
    with _counting_hops() as hops:
        for _ in range(COUNTED):
            (await send()).raise_for_status()
    took: list[float] = []
    cpu = time.process_time()
    for _ in range(n):
        started = time.perf_counter()
        r = await send()
        took.append((time.perf_counter() - started) * 1000)
        r.raise_for_status()
    return took, (time.process_time() - cpu) * 1000 / n, hops[0] / COUNTED


async def _measure(settings: Settings, store: Any, reads: int, searches: int) -> list[list[object]]:
    app = create_app(settings, store)
    headers = {"Authorization": f"Bearer {_token(settings)}", "Accept": FHIR_JSON}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE, headers=headers) as client:
        intake = await client.post("/", content=json.dumps(example()), headers={"Content-Type": FHIR_JSON})
        intake.raise_for_status()
        found = (await client.get("/Patient")).json()
        patient = found["entry"][0]["resource"]["id"]
        rows: list[list[object]] = []
        for label, path, n in (
            ("GET /Patient/{id}", f"/Patient/{patient}", reads),
            ("GET /Observation?patient={id}", f"/Observation?patient=Patient/{patient}", searches),
        ):
            took, cpu, hops = await _timed(lambda path=path: client.get(path), n)  # type: ignore[misc]
            ordered = sorted(took)
            rows.append([label, n, statistics.median(ordered), percentile(ordered, 95), cpu, hops])
    return rows


def run(backend: str, label: str, reads: int = 500, searches: int = 200) -> list[list[object]]:
    with tempfile.TemporaryDirectory(prefix="voorzorg-bench-overhead-") as tmp:
        settings = Settings(data_dir=Path(tmp), base_url=BASE)
        with bench_store(backend, "overhead") as store:
            rows = asyncio.run(_measure(settings, store, reads, searches))
    return [[label, *row] for row in rows]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.request_overhead", description=__doc__)
    p.add_argument("--reads", type=int, default=500, help="GET /Patient/{id} timed (default 500)")
    p.add_argument("--searches", type=int, default=200, help="searches timed (default 200)")
    p.add_argument("--backend", action="append", choices=("sqlite", "postgres"), help="only this backend")
    a = p.parse_args(argv)
    rows = per_backend(a.backend, lambda backend, name: run(backend, name, a.reads, a.searches))
    print(table(HEADERS, rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
