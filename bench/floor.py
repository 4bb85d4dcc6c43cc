"""The floor of issue #19: uvicorn + Starlette that parses the body and makes one INSERT + COMMIT into
SQLite (WAL), nothing else. What an intake could cost at the least on this machine, measured in the same
run as the adapter. `python -m bench.floor --port P --db FILE` serves it (one process, as uvicorn runs)."""

from __future__ import annotations

import argparse
import json
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType

import requests
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from adapter.config import PROJECT_ROOT
from bench.server import free_port


def app(db: Path) -> Starlette:
    local = threading.local()

    def connection() -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(db, isolation_level=None, timeout=30)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            local.conn = conn
        return conn

    def store(body: bytes) -> str:
        bundle = json.loads(body)
        conn = connection()
        conn.execute("BEGIN IMMEDIATE")
        cur = conn.execute("INSERT INTO referral (content) VALUES (?)", (json.dumps(bundle),))
        conn.execute("COMMIT")
        return str(cur.lastrowid)

    async def post(request: Request) -> Response:
        from starlette.concurrency import run_in_threadpool

        rowid = await run_in_threadpool(store, await request.body())
        return Response(json.dumps({"stored": rowid}), media_type="application/json")

    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE IF NOT EXISTS referral (id INTEGER PRIMARY KEY, content TEXT NOT NULL)")
    return Starlette(routes=[Route("/", post, methods=["POST"])])


class FloorServer:
    """`python -m bench.floor` in a process of its own, on a fresh database."""

    def __init__(self) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="voorzorg-floor-")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> FloorServer:
        db = Path(self._tmp.name) / "floor.db"
        command = [sys.executable, "-m", "bench.floor", "--port", str(self.port), "--db", str(db)]
        self._proc = subprocess.Popen(
            command, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                requests.post(self.url, data=b"{}", timeout=2)
                return self
            except requests.ConnectionError:
                time.sleep(0.05)
        self.__exit__()
        raise RuntimeError("the floor server did not start")

    def __exit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc: BaseException | None = None,
        tb: TracebackType | None = None,
    ) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=15)
        self._tmp.cleanup()


def main() -> None:
    import uvicorn

    p = argparse.ArgumentParser(prog="python -m bench.floor")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--db", type=Path, required=True)
    a = p.parse_args()
    uvicorn.run(app(a.db), host="127.0.0.1", port=a.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
