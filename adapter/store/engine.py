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
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from adapter.store.deadline import Deadline, lock_wait_ms
from adapter.store.deadline import current as current_deadline
from adapter.store.session import Session, VersionConflict
from adapter.store.sql import SqlSession

T = TypeVar("T")
#: How long SQLite waits for the write lock outside a request (commands, the worker); a request waits
#: no longer than its deadline leaves it.
SQLITE_BUSY_MS = 30_000
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
            url,
            connect_args={"timeout": SQLITE_BUSY_MS / 1000, "check_same_thread": False},
            hide_parameters=True,
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
        audit_keys: object | None = None,
    ) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.engine: Engine = engine if engine is not None else _engine(url)
        self.effects: tuple[Effect, ...] = tuple(effects)
        self.actor = actor
        #: The audit chain's key ring (adapter.security.audit_keys), kept outside the database.
        self.audit_keys = audit_keys

    def _like(self, **changes: Any) -> Store:
        parts: dict[str, Any] = {"effects": self.effects, "actor": self.actor, "audit_keys": self.audit_keys}
        return Store(self.url, engine=self.engine, **{**parts, **changes})

    def with_effects(self, effects: Sequence[Effect]) -> Store:
        """The same database, with these effects run by every unit of work (the composition root's)."""
        return self._like(effects=effects)

    def acting_for(self, actor: object) -> Store:
        """The same database and effects; units of work act for `actor` (whom the audit record names)."""
        return self._like(actor=actor)

    def keyed(self, audit_keys: object) -> Store:
        """The same database; audit records are keyed with (and verified against) this key ring."""
        return self._like(audit_keys=audit_keys)

    def migrate(self, then: Callable[[Session, frozenset[str]], None] | None = None) -> None:
        """Bring the schema to the newest migration (Alembic), on this store's own connection; `then`
        runs in the same transaction with the revisions this run applied."""
        from alembic import command
        from alembic.config import Config
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        cfg = Config()
        cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
        script = ScriptDirectory.from_config(cfg)
        with self.engine.begin() as conn:
            before = MigrationContext.configure(conn).get_current_heads()
            applied = {r.revision for head in before for r in script.iterate_revisions(head, "base")}
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
            if then is not None:
                every = {r.revision for r in script.walk_revisions()}
                session = SqlSession(conn, self.is_sqlite, None, self.audit_keys)
                then(session, frozenset(every - applied))
                session.flush()

    @contextmanager
    def reading(self) -> Iterator[Session]:
        with self.engine.connect().execution_options(voorzorg_read_only=True) as conn, conn.begin():
            session = SqlSession(conn, self.is_sqlite, self.actor, self.audit_keys)
            yield session
            session.flush()

    def write(self, work: Callable[[Session], T], attempts: int = 8) -> T:
        """Run `work` and then the effects in one transaction; re-run it all when a concurrent writer got
        there first. Under a request's deadline (`adapter.store.deadline`) locks are waited for no longer
        than the time left, and the commit happens only if the client has not been told 503."""
        deadline = current_deadline()
        for attempt in range(attempts):
            if deadline is not None:
                deadline.check()
            try:
                result, session = self._attempt(work, deadline)
            except (IntegrityError, VersionConflict, OperationalError, DBAPIError) as e:
                stopped = deadline is not None and _lock_wait_ended(e)
                if deadline is not None:
                    deadline.settled(committed=False)
                    if stopped:
                        deadline.check()  # the wait ended because the time is up: TimedOut
                if attempt == attempts - 1 or not (stopped or _retryable(e)):
                    raise
                time.sleep(0.005 * (2**attempt))
            else:
                if deadline is not None:
                    deadline.settled(committed=True)
                for committed in session.on_commit:
                    committed()
                return result
        raise AssertionError("unreachable")  # pragma: no cover

    def _attempt(self, work: Callable[[Session], T], deadline: Deadline | None) -> tuple[T, SqlSession]:
        with self.engine.begin() as conn:
            if deadline is not None and not self.is_sqlite:
                _pg_limits(conn)
            session = SqlSession(conn, self.is_sqlite, self.actor, self.audit_keys)
            result = work(session)
            for effect in self.effects:
                effect(session)
            session.flush()
            if deadline is not None:
                deadline.committing()  # TimedOut rolls back; else the commit follows at once
        return result, session

    def dispose(self) -> None:
        self.engine.dispose()


def _retryable(e: Exception) -> bool:
    if isinstance(e, IntegrityError | VersionConflict):
        return True
    code = getattr(getattr(e, "orig", None), "sqlstate", None)
    return code in ("40001", "40P01") or "database is locked" in str(e)


#: PostgreSQL: lock_not_available (lock_timeout), query_canceled (statement_timeout).
_LOCK_WAIT_ENDED = ("55P03", "57014")


def _lock_wait_ended(e: Exception) -> bool:
    """A wait for a lock (or a statement) stopped by the limit `lock_wait_ms` set."""
    code = getattr(getattr(e, "orig", None), "sqlstate", None)
    return code in _LOCK_WAIT_ENDED or "database is locked" in str(e)


def _pg_limits(conn: Connection) -> None:
    """No lock wait or statement longer than the time the request has left (this transaction only)."""
    ms = lock_wait_ms(SQLITE_BUSY_MS)
    conn.exec_driver_sql(f"SET LOCAL lock_timeout = {ms}")
    conn.exec_driver_sql(f"SET LOCAL statement_timeout = {ms}")


def _sqlite_pragmas(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # SQLAlchemy issues BEGIN itself, below
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
        cur.close()

    # One writer per process at a time: the others wait on this lock and are woken the moment it is
    # free, where SQLite's busy handler would have them sleep up to 100 ms between tries (a 1 s p99
    # with 4 clients). Between processes SQLite's lock still decides.
    writers = threading.Lock()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        read_only = conn.get_execution_options().get("voorzorg_read_only", False)
        # A request waits for the write lock no longer than the time it has left (adapter.store.deadline).
        wait_ms = lock_wait_ms(SQLITE_BUSY_MS)
        if read_only:
            conn.exec_driver_sql(f"PRAGMA busy_timeout={wait_ms}")
            conn.exec_driver_sql("BEGIN")
            return
        started = time.monotonic()
        held = writers.acquire(timeout=wait_ms / 1000)
        conn.info[_WRITER] = writers if held else None
        try:
            # the rest of the wait for SQLite's own lock; none left: try once and fail as SQLite does
            left = max(1, wait_ms - int((time.monotonic() - started) * 1000)) if held else 1
            conn.exec_driver_sql(f"PRAGMA busy_timeout={left}")
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            _release(conn.info)
            raise

    @event.listens_for(engine, "commit")
    @event.listens_for(engine, "rollback")
    def _ended(conn: Connection) -> None:
        _release(conn.info)

    @event.listens_for(engine, "checkin")
    def _returned(_dbapi_conn: Any, record: Any) -> None:
        _release(record.info)  # whatever ended the transaction, the lock does not outlive it


_WRITER = "voorzorg_sqlite_writer"


def _release(info: dict[Any, Any]) -> None:
    lock = info.pop(_WRITER, None)
    if lock is not None:
        lock.release()
