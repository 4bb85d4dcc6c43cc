"""`voorzorg-adapter serve --port P` as a newcomer starts it: a real process, its own data directory, on a
port that is not 8080, and no VOORZORG_BASE_URL — so the server has to find its own address.

    with Served(tmp_path / "data") as server:
        requests.get(f"{server.url}/metadata")

`env` is the environment the commands of that newcomer run with (the same data directory).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import requests

CLI = str(Path(sys.executable).parent / "voorzorg-adapter")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Served:
    def __init__(self, data_dir: Path, *serve_args: str, startup_timeout: float = 60.0, **env: str) -> None:
        self.data_dir = data_dir
        self.serve_args = serve_args  # more `serve` options, e.g. ("--workers", "2")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        base = {k: v for k, v in os.environ.items() if not k.startswith("VOORZORG_")}
        self.env = {**base, "VOORZORG_DATA_DIR": str(data_dir), "VOORZORG_WORKER": "off", **env}
        self._timeout = startup_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self.log = data_dir.parent / f"serve-{self.port}.log"

    def start(self) -> Served:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self.log.open("wb") as out:
            self._process = subprocess.Popen(
                [CLI, "serve", "--port", str(self.port), *self.serve_args],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + self._timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"serve ended at start:\n{self.log.read_text(errors='replace')[-3000:]}")
            try:
                if requests.get(f"{self.url}/metadata", timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"serve did not answer in time:\n{self.log.read_text(errors='replace')[-3000:]}")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)

    def __enter__(self) -> Served:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def token(self, *args: str) -> str:
        """`voorzorg-adapter token ARGS` as a newcomer runs it: the same data directory, nothing else."""
        run = subprocess.run(
            [CLI, "token", *args], env=self.env, capture_output=True, text=True, timeout=120, check=True
        )
        return run.stdout.strip()
