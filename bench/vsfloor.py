"""Issue #19's table: new accepted referrals over HTTP (with authentication and audit) against the floor
(`bench.floor`: uvicorn + Starlette, parse, one INSERT + COMMIT into SQLite WAL), measured in the same run
at 1 and 4 clients, on SQLite and PostgreSQL, with `serve --workers N`; resends of an unchanged referral;
and the resident memory of each server process after all its intakes."""

from __future__ import annotations

import sys
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from bench.floor import FloorServer
from bench.load import LoadResult, search_total, send_all
from bench.referrals import distinct
from bench.report import summary, table
from bench.server import AdapterServer, postgres_schema

ACCEPTED = '"accepted"'
NAMES = {"sqlite": "SQLite", "postgres": "PostgreSQL"}
HEADERS = [
    "server",
    "clients",
    "ok",
    "per s",
    "p50 ms",
    "p99 ms",
    "floor per s ÷ this",
    "this p50 ÷ floor p50",
]


@dataclass
class Run:
    server: str
    results: list[LoadResult]
    rss_mb: list[float] = field(default_factory=list)
    intakes: int = 0


@contextmanager
def _database(backend: str) -> Iterator[str]:
    if backend == "sqlite":
        yield ""
    else:
        with postgres_schema() as url:
            yield url


def _floor(n: int, clients: int, run_id: str) -> Run:
    bodies = distinct(2 * n, f"{run_id}-floor", seed=zlib.crc32(run_id.encode()))
    with FloorServer() as floor:
        send_all("warm-up", f"{floor.url}/", bodies[:10], 1, headers={})
        return Run(
            "floor: uvicorn + Starlette, parse, INSERT + COMMIT (SQLite WAL)",
            [
                send_all("floor", f"{floor.url}/", bodies[:n], 1, headers={}),
                send_all("floor", f"{floor.url}/", bodies[n:], clients, headers={}),
            ],
        )


def _adapter(backend: str, workers: int, n: int, clients: int, run_id: str, memory: int) -> Run:
    label = f"the adapter, {NAMES[backend]}, --workers {workers}"
    seed = zlib.crc32(f"{run_id}{backend}vsfloor".encode())
    bodies = distinct(2 * n + memory + 10, f"{run_id}-{backend}-vsfloor", seed=seed)
    warm, one, many, more = (
        bodies[:10],
        bodies[10 : 10 + n],
        bodies[10 + n : 10 + 2 * n],
        bodies[10 + 2 * n :],
    )
    with _database(backend) as url, AdapterServer(url, workers=workers) as server:
        base = f"{server.url}/"
        send_all("warm-up", base, warm, clients, ACCEPTED)
        results = [
            send_all(label, base, one, 1, ACCEPTED),
            send_all(label, base, many, clients, ACCEPTED),
            send_all(f"{label}: the same referral again", base, one[: max(1, n // 2)], 1, ACCEPTED),
        ]
        if more:
            results.append(send_all(f"{label}: more, for memory", base, more, clients, ACCEPTED))
        stored = search_total(server.url, "Task?status=accepted")
        if stored != len(bodies):
            results[1].errors.append(f"the adapter holds {stored} accepted Tasks, expected {len(bodies)}")
        for r in results:
            if r.errors:
                print(f"\n> {r.name}: {len(r.errors)} errors, first: {r.errors[0]}", file=sys.stderr)
                print(server.log_tail(), file=sys.stderr)
        return Run(label, results, server.rss_mb(), stored)


def _rows(floor: Run, runs: list[Run]) -> list[list[object]]:
    fl = {r.concurrency: r for r in floor.results}
    rows: list[list[object]] = []
    for run in [floor, *runs]:
        for r in run.results[:2]:
            s, f = summary(r.latencies_s), summary(fl[r.concurrency].latencies_s)
            ratio = fl[r.concurrency].per_second / r.per_second if r.per_second else float("nan")
            rows.append(
                [
                    run.server,
                    r.concurrency,
                    f"{r.ok}/{r.sent}",
                    r.per_second,
                    s["p50"],
                    s["p99"],
                    ratio,
                    s["p50"] / f["p50"] if f["p50"] else float("nan"),
                ]
            )
    return rows


def run(
    backends: list[str], workers: int, n: int, clients: int, run_id: str, memory: int
) -> tuple[str, bool]:
    """The table and notes (markdown), and whether any request failed."""
    floor = _floor(n, clients, run_id)
    runs = [_adapter(b, workers, n, clients, run_id, memory) for b in backends]
    out = [table(HEADERS, _rows(floor, runs)), ""]
    for r in runs:
        again = r.results[2]
        s = summary(again.latencies_s)
        out.append(
            f"- {r.server}: the same referral again, 1 client: {again.per_second:,.1f}/s, "
            f"p50 {s['p50']:.2f} ms, p99 {s['p99']:.2f} ms"
        )
        rss = ", ".join(f"{m:,.0f}" for m in r.rss_mb)
        out.append(f"- {r.server}: resident memory per server process after {r.intakes} intakes: {rss} MB")
    failed = any(x.errors for r in [floor, *runs] for x in r.results)
    return "\n".join(out), failed
