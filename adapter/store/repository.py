"""The resource store: current versions, history, search index and business keys, on SQLAlchemy Core.

One code path serves SQLite (the embedded default) and PostgreSQL (production). A unit of work is one
database transaction: a transaction Bundle is stored whole or not at all. Writers on SQLite take the
write lock up front (`BEGIN IMMEDIATE`), so two writers never deadlock on a lock upgrade; on
PostgreSQL unique business keys make concurrent identical referrals collide in the database, and
`Store.write` re-runs the unit of work, which then finds what the other one stored.
"""

from __future__ import annotations

import copy
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import and_, create_engine, delete, event, func, insert, or_, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.sql.elements import ColumnElement

from adapter.fhir.dates import now_instant
from adapter.store.indexing import index_rows
from adapter.store.schema import business_key, resource, resource_access, resource_version, search_index

T = TypeVar("T")


class VersionConflict(Exception):
    """The resource changed under us (If-Match, or a concurrent writer)."""

    def __init__(self, current: int | None) -> None:
        super().__init__(f"current version is {current}")
        self.current = current


@dataclass(frozen=True)
class Stored:
    res_type: str
    res_id: str
    version_id: int
    last_updated: str
    deleted: bool
    content: dict[str, Any]

    @property
    def etag(self) -> str:
        return f'W/"{self.version_id}"'

    @property
    def reference(self) -> str:
        return f"{self.res_type}/{self.res_id}"


#: A pseudo search parameter: only resources the organisation (Alternative.value) has a part in.
ACCESS = "_access"


@dataclass(frozen=True)
class Match:
    """One search criterion: any of `alternatives` matches (OR); criteria are ANDed."""

    param: str
    alternatives: tuple[Alternative, ...]


@dataclass(frozen=True)
class Alternative:
    value: str | None = None
    system: str | None = None  # for tokens: None = any system, "" = no system
    compare: str = "eq"  # for dates and _lastUpdated: eq ne gt lt ge le (on `low`/`high` ranges)
    low: str | None = None
    high: str | None = None


@dataclass(frozen=True)
class Write:
    stored: Stored
    created: bool
    changed: bool


def new_id() -> str:
    return str(uuid.uuid4())


class Session:
    """A unit of work on one connection inside one transaction.

    `written` records every change the unit of work made (puts that changed something, deletes), in
    order, so a hook called before commit (`Store.add_write_hook`) can act on them in the same
    transaction: the exchange turns them into outbox rows.
    """

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.written: list[Write] = []

    # --- reads -------------------------------------------------------------------------------
    def get(self, res_type: str, res_id: str) -> Stored | None:
        row = self.conn.execute(
            select(resource).where(resource.c.res_type == res_type, resource.c.res_id == res_id)
        ).first()
        return _stored(row) if row else None

    def get_version(self, res_type: str, res_id: str, version_id: int) -> Stored | None:
        v = resource_version.c
        row = self.conn.execute(
            select(resource_version).where(
                v.res_type == res_type, v.res_id == res_id, v.version_id == version_id
            )
        ).first()
        if row is None:
            return None
        return Stored(
            res_type,
            res_id,
            row.version_id,
            row.last_updated,
            row.method == "DELETE",
            json.loads(row.content),
        )

    def history(
        self, res_type: str | None, res_id: str | None, since: str | None, count: int, offset: int
    ) -> tuple[int, list[Stored]]:
        v = resource_version.c
        where: list[ColumnElement[bool]] = []
        if res_type:
            where.append(v.res_type == res_type)
        if res_id:
            where.append(v.res_id == res_id)
        if since:
            where.append(v.last_updated >= since)
        total = self.conn.execute(
            select(func.count()).select_from(resource_version).where(*where)
        ).scalar_one()
        rows = self.conn.execute(
            select(resource_version)
            .where(*where)
            .order_by(v.last_updated.desc(), v.version_id.desc())
            .limit(count)
            .offset(offset)
        ).all()
        return total, [
            Stored(
                r.res_type,
                r.res_id,
                r.version_id,
                r.last_updated,
                r.method == "DELETE",
                json.loads(r.content),
            )
            for r in rows
        ]

    def search(
        self, res_type: str, matches: list[Match], count: int, offset: int, newest_first: bool = False
    ) -> tuple[int, list[Stored]]:
        r = resource.c
        where: list[ColumnElement[bool]] = [r.res_type == res_type, r.deleted.is_(False)]
        for m in matches:
            where.append(or_(*(self._condition(res_type, m.param, a) for a in m.alternatives)))
        total = self.conn.execute(select(func.count()).select_from(resource).where(*where)).scalar_one()
        order = (r.last_updated.desc(), r.res_id.desc()) if newest_first else (r.last_updated, r.res_id)
        rows = self.conn.execute(
            select(resource).where(*where).order_by(*order).limit(count).offset(offset)
        ).all()
        return total, [_stored(row) for row in rows]

    def _condition(self, res_type: str, param: str, a: Alternative) -> ColumnElement[bool]:
        r, s = resource.c, search_index.c
        if param == "_id":
            return r.res_id == a.value
        if param == "_lastUpdated":
            return _compare(r.last_updated, r.last_updated, a)
        if param == ACCESS:
            ra = resource_access.c
            return r.res_id.in_(select(ra.res_id).where(ra.res_type == res_type, ra.organization == a.value))
        conds: list[ColumnElement[bool]] = [s.res_type == res_type, s.param == param]
        if a.low is not None or a.high is not None:
            conds.append(_compare(s.low, s.high, a))
        else:
            conds.append(s.value == a.value)
            if a.system == "":
                conds.append(s.system.is_(None))
            elif a.system is not None:
                conds.append(s.system == a.system)
        return r.res_id.in_(select(s.res_id).where(and_(*conds)))

    # --- writes ------------------------------------------------------------------------------
    def put(self, content: dict[str, Any], *, if_match: int | None = None, method: str = "PUT") -> Write:
        """Create or update; a write that changes nothing but meta keeps the current version."""
        res_type, res_id = content["resourceType"], content["id"]
        current = self.get(res_type, res_id)
        if if_match is not None and (current is None or current.version_id != if_match or current.deleted):
            raise VersionConflict(current.version_id if current else None)
        if current is not None and not current.deleted and same_content(current.content, content):
            return Write(current, created=False, changed=False)
        version = (current.version_id if current else 0) + 1
        stamp = now_instant()
        body = copy.deepcopy(content)
        body["meta"] = {**body.get("meta", {}), "versionId": str(version), "lastUpdated": stamp}
        text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
        if current is None:
            self.conn.execute(
                insert(resource).values(
                    res_type=res_type,
                    res_id=res_id,
                    version_id=version,
                    last_updated=stamp,
                    deleted=False,
                    content=text,
                )
            )
        else:
            done = self.conn.execute(
                update(resource)
                .where(
                    resource.c.res_type == res_type,
                    resource.c.res_id == res_id,
                    resource.c.version_id == current.version_id,
                )
                .values(version_id=version, last_updated=stamp, deleted=False, content=text)
            )
            if done.rowcount != 1:
                raise VersionConflict(current.version_id)
        self._record_version(res_type, res_id, version, stamp, "POST" if current is None else method, text)
        self._reindex(res_type, res_id, body)
        written = Write(
            Stored(res_type, res_id, version, stamp, False, body),
            created=current is None or current.deleted,
            changed=True,
        )
        self.written.append(written)
        return written

    def delete(self, res_type: str, res_id: str) -> Stored | None:
        current = self.get(res_type, res_id)
        if current is None or current.deleted:
            return current
        version, stamp = current.version_id + 1, now_instant()
        self.conn.execute(
            update(resource)
            .where(resource.c.res_type == res_type, resource.c.res_id == res_id)
            .values(version_id=version, last_updated=stamp, deleted=True)
        )
        text = json.dumps(current.content, separators=(",", ":"), ensure_ascii=False)
        self._record_version(res_type, res_id, version, stamp, "DELETE", text)
        self.conn.execute(
            delete(search_index).where(search_index.c.res_type == res_type, search_index.c.res_id == res_id)
        )
        gone = Stored(res_type, res_id, version, stamp, True, current.content)
        self.written.append(Write(gone, created=False, changed=True))
        return gone

    def _record_version(
        self, res_type: str, res_id: str, version: int, stamp: str, method: str, text: str
    ) -> None:
        self.conn.execute(
            insert(resource_version).values(
                res_type=res_type,
                res_id=res_id,
                version_id=version,
                last_updated=stamp,
                method=method,
                content=text,
            )
        )

    def _reindex(self, res_type: str, res_id: str, body: dict[str, Any]) -> None:
        self.conn.execute(
            delete(search_index).where(search_index.c.res_type == res_type, search_index.c.res_id == res_id)
        )
        rows = [
            {
                "res_type": res_type,
                "res_id": res_id,
                "param": r.param,
                "system": r.system,
                "value": r.value,
                "low": r.low,
                "high": r.high,
            }
            for r in index_rows(body)
        ]
        if rows:
            self.conn.execute(insert(search_index), rows)

    # --- who has a part in what ---------------------------------------------------------------
    def grant(self, res_type: str, res_id: str, organization: str) -> None:
        """Record that `organization` has a part in this resource (idempotent)."""
        if not self.has_access(res_type, res_id, organization):
            self.conn.execute(
                insert(resource_access).values(res_type=res_type, res_id=res_id, organization=organization)
            )

    def has_access(self, res_type: str, res_id: str, organization: str) -> bool:
        ra = resource_access.c
        found = self.conn.execute(
            select(ra.res_id).where(
                ra.res_type == res_type, ra.res_id == res_id, ra.organization == organization
            )
        ).first()
        return found is not None

    # --- business keys -----------------------------------------------------------------------
    def find_key(self, res_type: str, system: str, value: str) -> str | None:
        k = business_key.c
        return self.conn.execute(
            select(k.res_id).where(k.res_type == res_type, k.system == system, k.value == value)
        ).scalar_one_or_none()

    def claim_key(self, res_type: str, system: str, value: str, proposed_id: str) -> str:
        """The id already holding this business key, or `proposed_id` now holding it.

        A concurrent claim of the same key waits for the other transaction and then fails on the
        primary key; `Store.write` re-runs the unit of work, which then finds the winner's id.
        """
        existing = self.find_key(res_type, system, value)
        if existing is not None:
            return existing
        self.conn.execute(
            insert(business_key).values(res_type=res_type, system=system, value=value, res_id=proposed_id)
        )
        return proposed_id


def _compare(low_col: Any, high_col: Any, a: Alternative) -> ColumnElement[bool]:
    lo, hi = a.low or "", a.high or "\uffff"
    if a.compare == "gt":
        return high_col > hi
    if a.compare == "lt":
        return low_col < lo
    if a.compare == "ge":
        return high_col >= lo
    if a.compare == "le":
        return low_col <= hi
    if a.compare == "ne":
        return or_(low_col > hi, high_col < lo)
    return and_(low_col >= lo, high_col <= hi)


def same_content(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Equal but for the version and timestamp the store puts in meta."""

    def strip(d: dict[str, Any]) -> dict[str, Any]:
        meta = {k: v for k, v in d.get("meta", {}).items() if k not in ("versionId", "lastUpdated")}
        out = {k: v for k, v in d.items() if k != "meta"}
        if meta:
            out["meta"] = meta
        return out

    return strip(old) == strip(new)


def _stored(row: Any) -> Stored:
    return Stored(
        row.res_type, row.res_id, row.version_id, row.last_updated, bool(row.deleted), json.loads(row.content)
    )


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


class Store:
    """Engine, migrations and units of work.

    `hide_parameters`: SQL logging and database errors never show bound values (BSN, names).
    """

    def __init__(self, url: str) -> None:
        # At DEBUG SQLAlchemy logs fetched rows (client data); hide_parameters does not cover rows,
        # so rows are filtered out whatever level an operator sets.
        for name in ("sqlalchemy.engine.Engine", "sqlalchemy.engine.base.Engine"):
            logger = logging.getLogger(name)
            if not any(isinstance(f, _NoRows) for f in logger.filters):
                logger.addFilter(_NoRows())
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            path = url.split("///", 1)[-1]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            self.engine: Engine = create_engine(
                url, connect_args={"timeout": 30, "check_same_thread": False}, hide_parameters=True
            )
            _sqlite_pragmas(self.engine)
        else:
            # No server-side prepared statements (psycopg prepares a query after 5 runs): PostgreSQL
            # then settles on a generic plan made while the tables were small, and searches on a
            # common value (Task code, Consent category) turned into scans that grew with every client
            # (intake p50 0.15 s -> 1.2 s at a few hundred clients). Also what PgBouncer's
            # transaction pooling needs.
            self.engine = create_engine(
                url,
                pool_pre_ping=True,
                pool_size=10,
                max_overflow=10,
                hide_parameters=True,
                connect_args={"prepare_threshold": None},
            )
        self._write_hooks: list[Callable[[Session], None]] = []

    def add_write_hook(self, hook: Callable[[Session], None]) -> None:
        """Call `hook(session)` at the end of every `write`, inside its transaction, before commit.

        A hook that raises rolls the whole unit of work back: what it writes and what the unit of
        work wrote commit together or not at all (the exchange's outbox relies on this).
        """
        if hook not in self._write_hooks:
            self._write_hooks.append(hook)

    def remove_write_hook(self, hook: Callable[[Session], None]) -> None:
        if hook in self._write_hooks:
            self._write_hooks.remove(hook)

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
            yield Session(conn)

    def write(self, work: Callable[[Session], T], attempts: int = 8) -> T:
        """Run `work` in one transaction; re-run it when a concurrent writer got there first."""
        for attempt in range(attempts):
            try:
                with self.engine.begin() as conn:
                    session = Session(conn)
                    result = work(session)
                    for hook in self._write_hooks:
                        hook(session)
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
