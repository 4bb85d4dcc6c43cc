"""The store: one database (SQLite embedded by default, PostgreSQL in production), its migrations, and
units of work.

A unit of work is one database transaction (`Store.write(work)`): a referral is stored whole or not at
all. After `work` has made its changes, the store runs its *effects* — the one declared list of what
every change must also do (`adapter.workflows.effects`: the OZKS summary kept in step, outbox rows,
the audit record) — in the same transaction, before commit: a change never commits without them, and
they never commit without the change. The composition root (`adapter.composition`) gives the store its
effects; a `Store` made without them (migrations, test set-up) changes data and nothing else.

Writers on SQLite take the write lock up front (`BEGIN IMMEDIATE`), so two writers never deadlock on a
lock upgrade; on PostgreSQL unique business keys make concurrent identical referrals collide in the
database, and `write` re-runs the unit of work, which then finds what the other one stored.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from adapter.store.session import Session, VersionConflict
from adapter.store.sql import SqlSession

T = TypeVar("T")
#: Something every unit of work also does, after its own changes, in its transaction.
Effect = Callable[[Session], None]


def unreachable(url: str, timeout: int = 3) -> str | None:
    """None when the database at `url` answers, else why not (exception type and its first line)."""
    try:
        engine = create_engine(url, connect_args={"connect_timeout": timeout})
        with engine.connect() as conn:
            conn.exec_driver_sql("select 1")
        engine.dispose()
        return None
    except Exception as e:  # any failure to connect is an answer: say why
        return f"{type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ''}"


class _NoRows(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Row")


def _engine(url: str) -> Engine:
    """`hide_parameters`: SQL logging and database errors never show bound values (BSN, names)."""
    # At DEBUG SQLAlchemy logs fetched rows (client data); hide_parameters does not cover rows,
    # so rows are filtered out whatever level an operator sets.
    for name in ("sqlalchemy.engine.Engine", "sqlalchemy.engine.base.Engine"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _NoRows) for f in logger.filters):
            logger.addFilter(_NoRows())
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"timeout": 30, "check_same_thread": False}, hide_parameters=True
        )
        _sqlite_pragmas(engine)
        return engine
    # No server-side prepared statements (psycopg prepares a query after 5 runs): PostgreSQL then
    # settles on a generic plan made while the tables were small, and searches on a common value (Task
    # code, Consent category) turned into scans that grew with every client (intake p50 0.15 s -> 1.2 s
    # at a few hundred clients). Also what PgBouncer's transaction pooling needs.
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=10,
        max_overflow=10,
        hide_parameters=True,
        connect_args={"prepare_threshold": None},
    )


class Store:
    """Engine, migrations and units of work; `effects` run at the end of every unit of work."""

    def __init__(
        self,
        url: str,
        *,
        effects: Sequence[Effect] = (),
        actor: object | None = None,
        engine: Engine | None = None,
    ) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.engine: Engine = engine if engine is not None else _engine(url)
        self.effects: tuple[Effect, ...] = tuple(effects)
        self.actor = actor

    def with_effects(self, effects: Sequence[Effect]) -> Store:
        """The same database, with these effects run by every unit of work (the composition root's)."""
        return Store(self.url, effects=effects, actor=self.actor, engine=self.engine)

    def acting_for(self, actor: object) -> Store:
        """The same database and effects; units of work act for `actor` (whom the audit record names)."""
        return Store(self.url, effects=self.effects, actor=actor, engine=self.engine)

    def migrate(self) -> None:
        """Bring the schema to the newest migration (Alembic), on this store's own connection."""
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
        with self.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    @contextmanager
    def reading(self) -> Iterator[Session]:
        with self.engine.connect().execution_options(voorzorg_read_only=True) as conn, conn.begin():
            yield SqlSession(conn, self.is_sqlite, self.actor)

    def write(self, work: Callable[[Session], T], attempts: int = 8) -> T:
        """Run `work` and then the effects in one transaction; re-run it all when a concurrent writer got
        there first."""
        for attempt in range(attempts):
            try:
                with self.engine.begin() as conn:
                    session = SqlSession(conn, self.is_sqlite, self.actor)
                    result = work(session)
                    for effect in self.effects:
                        effect(session)
                    return result
            except (IntegrityError, VersionConflict, OperationalError, DBAPIError) as e:
                if attempt == attempts - 1 or not _retryable(e):
                    raise
                time.sleep(0.005 * (2**attempt))
        raise AssertionError("unreachable")  # pragma: no cover

    def dispose(self) -> None:
        self.engine.dispose()


def _retryable(e: Exception) -> bool:
    if isinstance(e, IntegrityError | VersionConflict):
        return True
    code = getattr(getattr(e, "orig", None), "sqlstate", None)
    return code in ("40001", "40P01") or "database is locked" in str(e)


def _sqlite_pragmas(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # SQLAlchemy issues BEGIN itself, below
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        read_only = conn.get_execution_options().get("voorzorg_read_only", False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")
