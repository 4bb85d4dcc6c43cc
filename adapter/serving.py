"""`serve --workers N`: N uvicorn processes answering on one port, each with its own app on the shared
store (SQLite in WAL mode, or PostgreSQL with a pool per process).

The parent prepares what must happen once (migrations, the issuer key, the instance record) and then
uvicorn starts the processes, each building its app with `worker_app`. Only one of them runs the
in-process outbox worker and notifier (VOORZORG_WORKER=in-process): the one holding `serve.lock` in
the data directory, so peers get one delivery loop, as with one process.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from dataclasses import replace
from typing import IO, Any

from fastapi import FastAPI

from adapter.config import Settings
from adapter.instance import served

#: What the parent passes its worker processes: host, port and --insecure-dev-no-auth, as JSON.
SERVE_ENV = "VOORZORG_SERVE"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"

_held: list[IO[Any]] = []  # the lock file of the process that runs the in-process worker, kept open


def serve_settings(settings: Settings, host: str, port: int, insecure: bool) -> Settings:
    """The settings `serve` runs with, in the parent and in every worker process alike."""
    settings = served(settings, host, port)
    return replace(settings, insecure_no_auth=True) if insecure else settings


def worker_environment(host: str, port: int, insecure: bool) -> None:
    os.environ[SERVE_ENV] = json.dumps({"host": host, "port": port, "insecure": insecure})


def worker_app() -> FastAPI:
    """The app of one worker process (uvicorn's factory); the parent migrated the store already."""
    from adapter.api.app import api
    from adapter.composition import compose

    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    spec = json.loads(os.environ[SERVE_ENV])
    settings = serve_settings(
        Settings.from_env(), str(spec["host"]), int(spec["port"]), bool(spec["insecure"])
    )
    if settings.worker == "in-process" and not _delivers(settings):
        settings = replace(settings, worker="off")
    logging.getLogger("voorzorg").info(
        "worker process %d serving (outbox worker %s)", os.getpid(), settings.worker
    )
    return api(compose(settings, migrate=False))


def _delivers(settings: Settings) -> bool:
    """True for the one process that holds the data directory's serve.lock (until it ends)."""
    handle = (settings.data_dir / "serve.lock").open("a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return False
    _held.append(handle)
    return True
