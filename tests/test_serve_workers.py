"""`serve --workers N`: N server processes on one port sharing the store, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from bench.referrals import distinct
from tests.conftest import POSTGRES_URL, _postgres_reason
from tests.served import Served

WORKERS = 2
SCOPE = "system/*.cruds"


def _children(pid: int) -> list[int]:
    """The server processes uvicorn started under `pid` (its spawned workers)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[1]) == pid and b"spawn_main" in cmdline:
            found.append(int(stat.parent.name))
    return found


def _cpu_ticks(pid: int) -> int:
    fields = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    if request.param == "sqlite":
        yield {}
        return
    why = _postgres_reason()
    if why:
        pytest.skip(why)
    from sqlalchemy import create_engine, text

    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield {"VOORZORG_DATABASE_URL": f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}"}
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def test_workers_share_the_store(tmp_path: Path, database: dict[str, str]) -> None:
    with Served(tmp_path / "data", "--workers", str(WORKERS), startup_timeout=180, **database) as server:
        assert server._process is not None
        children = _children(server._process.pid)
        assert len(children) == WORKERS, children
        before = {pid: _cpu_ticks(pid) for pid in children}
        token = server.token("--client", "workers", "--role", "jgz", "--scope", SCOPE)
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/fhir+json"}
        bodies = distinct(24, f"workers-{uuid.uuid4().hex[:8]}")

        def send(body: bytes) -> dict[str, Any]:
            r = requests.post(f"{server.url}/", data=body, headers=headers, timeout=120)
            assert r.status_code == 200, r.text
            answer: dict[str, Any] = r.json()
            return answer

        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(send, bodies))
            again = list(pool.map(send, bodies[:6]))  # resends, possibly to the other process
        locations = [[e["response"]["location"].split("/_history")[0] for e in a["entry"]] for a in answers]
        own = [loc for each in locations for loc in each if loc.split("/")[0] in ("ServiceRequest", "Task")]
        assert len(set(own)) == len(own) == 2 * len(bodies), "each referral stored once, under its own ids"
        for first, second in zip(answers, again, strict=False):
            assert [e["response"]["location"].split("/_history")[0] for e in second["entry"]] == [
                e["response"]["location"].split("/_history")[0] for e in first["entry"]
            ]
        found = requests.get(
            f"{server.url}/Task",
            params={"status": "accepted", "_summary": "count"},
            headers=headers,
            timeout=60,
        ).json()
        assert found["total"] == len(bodies), json.dumps(found)[:300]
        assert all(_cpu_ticks(pid) > before[pid] for pid in children), "every process served"
        assert sorted(_children(server._process.pid)) == sorted(children), "no process died"
