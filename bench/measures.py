"""The monitoring's measures over a generated region (bench/region.py): each measure over one year
(2026), timed in-process on a store of each backend; the target is at most 2 s per measure. Then the
coordinator's dashboard of that year on the same region (bench/dashboard.py; the target is 3 s).

    python -m bench.measures [--clients 10000] [--backend sqlite] [--repeat 3]

`python -m bench` runs it too (`--measures N` clients; 1,000 with --quick).
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from datetime import date

from adapter.monitoring import MEASURE_IDS, evaluate_measure
from adapter.store.engine import Store
from bench.dashboard import PAGE, time_dashboard
from bench.region import generate_region
from bench.report import table
from bench.server import bench_store, per_backend

HEADERS = ["backend", "clients", "measure (or request)", "median s", "max s", "resources of the region"]
YEAR = (date(2026, 1, 1), date(2026, 12, 31))


def _store(backend: str) -> contextlib.AbstractContextManager[Store]:
    return bench_store(backend, "region")


def run(backend: str, label: str, clients: int, repeat: int = 3, seed: int = 17) -> list[list[object]]:
    rows: list[list[object]] = []
    with _store(backend) as store:
        started = time.perf_counter()
        counts = generate_region(store, clients, seed)
        made = time.perf_counter() - started
        total = sum(counts.values())
        rows.append([label, clients, "(generating the region)", made, made, f"{total:,}"])
        for measure in MEASURE_IDS:
            took = []
            for _ in range(repeat):
                t = time.perf_counter()
                with store.reading() as s:
                    evaluate_measure(s, measure, *YEAR)
                took.append(time.perf_counter() - t)
            rows.append([label, clients, measure, statistics.median(took), max(took), ""])
        took = time_dashboard(store, repeat)
        rows.append([label, clients, f"GET {PAGE}", statistics.median(took), max(took), ""])
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.measures", description=__doc__)
    p.add_argument("--clients", type=int, default=10_000)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--backend", action="append", choices=("sqlite", "postgres"))
    a = p.parse_args(argv)
    rows = per_backend(a.backend, lambda backend, name: run(backend, name, a.clients, a.repeat))
    print(table(HEADERS, rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
