"""The adapter as operators run it: `voorzorg-adapter serve` in a process of its own, on a backend."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

import requests
from sqlalchemy import create_engine, text

from adapter.config import PROJECT_ROOT
from adapter.store.engine import Store, unreachable
from bench.auth import mint_for_server, session

POSTGRES_URL = os.environ.get(
    "VOORZORG_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def postgres_unreachable() -> str | None:
    """None when PostgreSQL answers, else why not."""
    return unreachable(POSTGRES_URL)


BACKEND_NAMES = {"sqlite": "SQLite", "postgres": "PostgreSQL"}


def per_backend(
    chosen: Sequence[str] | None, run: Callable[[str, str], list[list[object]]]
) -> list[list[object]]:
    """The rows of `run(backend, its name)` for each chosen backend (both when none is chosen);
    PostgreSQL is left out, with a line saying why, when it cannot be reached."""
    rows: list[list[object]] = []
    for backend in chosen or ("sqlite", "postgres"):
        if backend == "postgres" and (why := postgres_unreachable()):
            print(f"> PostgreSQL skipped: {why}\n")
            continue
        rows += run(backend, BACKEND_NAMES[backend])
    return rows


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A database URL whose search_path is a fresh schema, dropped (with everything in it) afterwards."""
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@contextmanager
def bench_store(backend: str, name: str) -> Iterator[Store]:
    """A migrated store on `backend` ("sqlite": a file in a temporary directory; else a fresh PostgreSQL
    schema), removed afterwards."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix=f"voorzorg-bench-{name}-") as tmp:
            store = Store(f"sqlite:///{Path(tmp, 'voorzorg.db').as_posix()}")
            try:
                store.migrate()
                yield store
            finally:
                store.dispose()
    else:
        with postgres_schema() as url:
            store = Store(url)
            try:
                store.migrate()
                yield store
            finally:
                store.dispose()


def spawned(pid: int) -> list[int]:
    """The processes multiprocessing spawned under `pid` (uvicorn's workers), not its resource tracker."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (stat.parent / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
        if parent == pid and b"spawn_main" in cmdline:
            found.append(int(stat.parent.name))
    return sorted(found)


def rss_mb(pid: int) -> float:
    for line in (Path("/proc") / str(pid) / "status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class AdapterServer:
    """`python -m adapter.cli serve --port P` with VOORZORG_DATA_DIR / VOORZORG_DATABASE_URL set.

    The rest of the caller's environment passes through, so whatever the operator exported for the
    security layer (VOORZORG_*) reaches the server too. Its log goes to a file, shown on failure.
    """

    def __init__(
        self, database_url: str = "", startup_timeout: float = 60.0, insecure: bool = False, workers: int = 1
    ) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="voorzorg-bench-")
        self.data_dir = Path(self._tmp.name)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.database_url = database_url
        self.backend = "PostgreSQL" if database_url.startswith("postgresql") else "SQLite"
        self._startup_timeout = startup_timeout
        self._log_path = self.data_dir / "server.log"
        self._proc: subprocess.Popen[bytes] | None = None
        #: `serve --insecure-dev-no-auth`: no token checked (none sent); AuditEvents are still written
        self.insecure = insecure
        #: `serve --workers N`: server processes on the one port
        self.workers = workers
        #: what authenticates to this server (set once it runs)
        self.headers: dict[str, str] = {}

    def __enter__(self) -> AdapterServer:
        env = {
            **os.environ,
            "VOORZORG_DATA_DIR": str(self.data_dir),
            "VOORZORG_DATABASE_URL": self.database_url,
            "VOORZORG_BASE_URL": self.url,
        }
        log = self._log_path.open("wb")
        command = [
            sys.executable,
            "-m",
            "adapter.cli",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        if self.insecure:
            command.append("--insecure-dev-no-auth")
        if self.workers > 1:
            command += ["--workers", str(self.workers)]
        self._proc = subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        try:
            self._wait_until_ready()
            self.headers = {} if self.insecure else mint_for_server(env, PROJECT_ROOT)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + self._startup_timeout
        with session({}) as s:  # /metadata is public
            while time.monotonic() < deadline:
                if self._proc is not None and self._proc.poll() is not None:
                    raise RuntimeError(f"the adapter exited with {self._proc.returncode}:\n{self.log_tail()}")
                try:
                    r = s.get(f"{self.url}/metadata", timeout=2)
                    if r.status_code == 200:
                        return
                    raise RuntimeError(f"/metadata answered {r.status_code}: {r.text[:300]}")
                except requests.ConnectionError:
                    time.sleep(0.05)
        raise RuntimeError(f"the adapter did not answer /metadata in time:\n{self.log_tail()}")

    def rss_mb(self) -> list[float]:
        """Resident memory (MB) of each process that serves: the server, or with --workers its workers."""
        if self._proc is None:
            return []
        pids = [self._proc.pid] if self.workers <= 1 else spawned(self._proc.pid)
        return [rss_mb(pid) for pid in pids]

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self._log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def __exit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc: BaseException | None = None,
        tb: TracebackType | None = None,
    ) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()  # uvicorn shuts down cleanly on SIGTERM
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        self._tmp.cleanup()
