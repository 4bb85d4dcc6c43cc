"""The coordinator's dashboard over a generated region: `GET /dashboard?year=2026` for a logged-in
coordinator (the nine measures over the year, the referrals month by month, the SVG charts), in-process
through the app (starlette's TestClient), after one untimed first page; the target is at most 3 s.

    python -m bench.dashboard [--clients 10000] [--backend sqlite] [--repeat 3]

`python -m bench.measures` (and so `python -m bench`) times it too, on the region it made for the measures.
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient

from adapter.api.app import create_app
from adapter.config import Settings
from adapter.dashboard.users import add_user
from adapter.store.engine import Store
from bench.region import generate_region
from bench.report import table
from bench.server import bench_store, per_backend

YEAR = 2026
PAGE = f"/dashboard?year={YEAR}"
LOGIN, PASSWORD = "coordinator", "bench dashboard password"
HEADERS = ["backend", "clients", "request", "median s", "max s"]


def _logged_in(client: TestClient) -> None:
    form = client.get("/dashboard/login")
    found = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert form.status_code == 200 and found, "no login form"
    done = client.post(
        "/dashboard/login",
        data={"username": LOGIN, "password": PASSWORD, "csrf": found.group(1)},
        follow_redirects=False,
    )
    assert done.status_code == 303, f"login: {done.status_code}"


def time_dashboard(store: Store, repeat: int = 3) -> list[float]:
    """Seconds per `GET /dashboard?year=2026` of a logged-in coordinator, `repeat` times after a first."""
    with tempfile.TemporaryDirectory(prefix="voorzorg-bench-dashboard-") as tmp:
        users = Path(tmp, "users.yaml")
        add_user(
            users,
            LOGIN,
            name="Bench Coordinator",
            organization="http://fhir.nl/fhir/NamingSystem/ura|00000000",
            role="jgz",
            password=PASSWORD,
        )
        settings = Settings(data_dir=Path(tmp), base_url="http://testserver", users_file=users)
        with TestClient(create_app(settings, store)) as client:
            _logged_in(client)
            # one page first, untimed: a server's first page pays once for what every later one reuses
            # (matplotlib's fonts, the templates, the measures' YAML)
            assert client.get(PAGE).status_code == 200
            took = []
            for _ in range(repeat):
                started = time.perf_counter()
                page = client.get(PAGE)
                took.append(time.perf_counter() - started)
                assert page.status_code == 200 and "data:image/svg+xml" in page.text, (
                    f"dashboard: {page.status_code}"
                )
    return took


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.dashboard", description=__doc__)
    p.add_argument("--clients", type=int, default=10_000)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--backend", action="append", choices=("sqlite", "postgres"))
    a = p.parse_args(argv)

    def run(backend: str, name: str) -> list[list[object]]:
        with bench_store(backend, "dashboard") as store:
            generate_region(store, a.clients, 17)
            took = time_dashboard(store, a.repeat)
        return [[name, a.clients, f"GET {PAGE}", statistics.median(took), max(took)]]

    rows = per_backend(a.backend, run)
    print(table(HEADERS, rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
