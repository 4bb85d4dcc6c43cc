"""The one implementation of the `Session` protocol: SQLAlchemy Core on SQLite and PostgreSQL.

Resources keep their current version (`resource`), every version (`resource_version`), the search index
of the current version (`search_index`, extracted by `adapter.store.indexing`), unique business keys
(`business_key`), who has a part in what (`resource_access`) and a CarePlan's dated activities
(`plan_visit`, adapter.store.plan_visits). The outbox and audit tables are reached
through `queue` and `audit`, in the same transaction.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, insert, or_, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, CursorResult
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement

from adapter.fhir.dates import now_instant
from adapter.fhir.outcome import FhirError, Issue
from adapter.store.audit_chain import AuditRows
from adapter.store.export_jobs import ExportJobs
from adapter.store.indexing import element_of, index_rows
from adapter.store.plan_visits import PLAN_TYPE, plan_visit_rows
from adapter.store.queue import Queue
from adapter.store.schema import (
    business_key,
    plan_visit,
    resource,
    resource_access,
    resource_version,
    search_index,
    used_assertion,
)
from adapter.store.session import (
    ACCESS,
    Alternative,
    Criterion,
    Match,
    Stored,
    VersionConflict,
    Write,
    criteria,
    same_content,
)
from adapter.store.subscription_state import SubscriptionRows


class SqlSession:
    """A unit of work on one connection inside one transaction (see `adapter.store.session.Session`)."""

    def __init__(
        self, conn: Connection, is_sqlite: bool, actor: object | None = None, audit_keys: object | None = None
    ) -> None:
        self.conn = conn
        self.is_sqlite = is_sqlite
        self.actor = actor
        self.audit_keys = audit_keys
        self.written: list[Write] = []
        self.on_commit: list[Callable[[], None]] = []
        #: Inserts held back until the next other statement (or the end of the unit of work), then sent
        #: per table as one executemany: a referral's 13 resources are 4 statements instead of ~50.
        self._pending: dict[Any, list[dict[str, Any]]] = {}
        #: What this unit of work read or wrote of `resource`, by (type, id): the row as stored (None when
        #: there is none), so reading it again costs no round trip. Only this class writes `resource`, and
        #: a write that lost a race to another transaction still fails (version check, primary key).
        self._rows: dict[tuple[str, str], _Row | None] = {}

    def _run(self, statement: Any, params: Any = None) -> CursorResult[Any]:
        """Execute `statement` after the inserts held back (so it sees them, and they keep their order)."""
        self.flush()
        return self.conn.execute(statement, params)

    def _hold(self, statement: Any, rows: list[dict[str, Any]]) -> None:
        self._pending.setdefault(statement, []).extend(rows)

    def flush(self) -> None:
        """Send the inserts held back; the store calls it before the commit."""
        pending, self._pending = self._pending, {}
        for statement, rows in pending.items():
            self.conn.execute(statement, rows)

    @cached_property
    def queue(self) -> Queue:
        return Queue(self.conn, self.is_sqlite)

    @cached_property
    def audit(self) -> AuditRows:
        return AuditRows(self.conn, self.is_sqlite, self.audit_keys)

    @cached_property
    def subscriptions(self) -> SubscriptionRows:
        return SubscriptionRows(self.conn, self.is_sqlite)

    @cached_property
    def exports(self) -> ExportJobs:
        return ExportJobs(self.conn)

    # --- reads -------------------------------------------------------------------------------
    def get(self, res_type: str, res_id: str) -> Stored | None:
        key = (res_type, res_id)
        if key not in self._rows:
            # no flush needed: every resource row held back is in self._rows, so a row not there is not held
            found = self.conn.execute(_GET, {"t": res_type, "i": res_id}).first()
            self._rows[key] = None if found is None else _row(found)
        row = self._rows[key]
        return _stored(row) if row is not None else None

    def prefetch(self, keys: Iterable[tuple[str, str]]) -> None:
        missing = list(dict.fromkeys(k for k in keys if k not in self._rows))
        if not missing:
            return
        for key in missing:
            self._rows[key] = None
        found = self.conn.execute(  # no flush needed, as in get
            select(resource).where(tuple_(resource.c.res_type, resource.c.res_id).in_(missing))
        )
        for row in found:
            self._rows[(row.res_type, row.res_id)] = _row(row)

    def live(self, reference: str) -> Stored | None:
        if not isinstance(reference, str) or reference.count("/") != 1:
            return None
        found = self.get(*reference.split("/", 1))
        return found if found is not None and not found.deleted else None

    def get_version(self, res_type: str, res_id: str, version_id: int) -> Stored | None:
        v = resource_version.c
        row = self._run(
            select(resource_version).where(
                v.res_type == res_type, v.res_id == res_id, v.version_id == version_id
            )
        ).first()
        return _version(row) if row is not None else None

    def history(
        self,
        res_type: str | None,
        res_id: str | None,
        since: str | None,
        count: int,
        offset: int,
        *,
        author_in: str | None = None,
    ) -> tuple[int, list[Stored]]:
        v = resource_version.c
        where: list[ColumnElement[bool]] = []
        if res_type:
            where.append(v.res_type == res_type)
        if res_id:
            where.append(v.res_id == res_id)
        if since:
            where.append(v.last_updated >= since)
        if author_in is not None:
            where.append(or_(v.author.is_(None), v.author == author_in))
        total = self._run(select(func.count()).select_from(resource_version).where(*where)).scalar_one()
        rows = self._run(
            select(resource_version)
            .where(*where)
            .order_by(v.last_updated.desc(), v.version_id.desc())
            .limit(count)
            .offset(offset)
        ).all()
        return total, [_version(r) for r in rows]

    def search(
        self, res_type: str, matches: list[Match], count: int, offset: int, newest_first: bool = False
    ) -> tuple[int, list[Stored]]:
        r = resource.c
        where = self.conditions(res_type, matches)
        total = self._run(select(func.count()).select_from(resource).where(*where)).scalar_one()
        if count <= 0:
            return total, []
        order = (r.last_updated.desc(), r.res_id.desc()) if newest_first else (r.last_updated, r.res_id)
        rows = self._run(select(resource).where(*where).order_by(*order).limit(count).offset(offset)).all()
        return total, [_stored(row) for row in rows]

    def conditions(self, res_type: str, matches: list[Match]) -> list[ColumnElement[bool]]:
        """The WHERE of a search on `resource`: its current resources of `res_type` that `matches`."""
        r = resource.c
        where: list[ColumnElement[bool]] = [r.res_type == res_type, r.deleted.is_(False)]
        for m in matches:
            where.append(or_(*(self._condition(res_type, m.param, a) for a in m.alternatives)))
        return where

    def find(
        self, res_type: str, *, limit: int = 1000, newest_first: bool = False, **params: Criterion
    ) -> list[Stored]:
        return self.search(res_type, criteria(**params), limit, 0, newest_first)[1]

    def every(self, res_type: str, matches: list[Match], page: int = 500) -> list[Stored]:
        out: list[Stored] = []
        while True:
            total, found = self.search(res_type, matches, page, len(out))
            out += found
            if not found or len(out) >= total:
                return out

    def count(self, res_type: str, **params: Criterion) -> int:
        return self.search(res_type, criteria(**params), 0, 0)[0]

    def scan(
        self,
        res_type: str,
        since: str | None,
        after: tuple[str, str] | None,
        count: int,
        until: str | None = None,
    ) -> list[Stored]:
        r = resource.c
        where: list[ColumnElement[bool]] = [r.res_type == res_type, r.deleted.is_(False)]
        if since is not None:
            where.append(r.last_updated > since)
        if until is not None:
            where.append(r.last_updated <= until)
        if after is not None:
            stamp, rid = after
            where.append(or_(r.last_updated > stamp, and_(r.last_updated == stamp, r.res_id > rid)))
        rows = self.conn.execute(
            select(resource).where(*where).order_by(r.last_updated, r.res_id).limit(count)
        ).all()
        return [_stored(row) for row in rows]

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
        meta = {**content.get("meta", {}), "versionId": str(version), "lastUpdated": stamp}
        text = json.dumps({**content, "meta": meta}, separators=(",", ":"), ensure_ascii=False)
        body = json.loads(text)  # a copy as stored; faster than deepcopy
        if current is None:
            self._hold(
                _INSERT_RESOURCE,
                [
                    {
                        "res_type": res_type,
                        "res_id": res_id,
                        "version_id": version,
                        "last_updated": stamp,
                        "deleted": False,
                        "content": text,
                    }
                ],
            )
        else:
            done = self._run(
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
        self._rows[(res_type, res_id)] = _Row(res_type, res_id, version, stamp, False, text)
        self._record_version(res_type, res_id, version, stamp, "POST" if current is None else method, text)
        self._reindex(res_type, res_id, body, fresh=current is None)
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
        self._run(
            update(resource)
            .where(resource.c.res_type == res_type, resource.c.res_id == res_id)
            .values(version_id=version, last_updated=stamp, deleted=True)
        )
        text = json.dumps(current.content, separators=(",", ":"), ensure_ascii=False)
        self._rows[(res_type, res_id)] = _Row(res_type, res_id, version, stamp, True, text)
        self._record_version(res_type, res_id, version, stamp, "DELETE", text)
        self._run(
            delete(search_index).where(search_index.c.res_type == res_type, search_index.c.res_id == res_id)
        )
        if res_type == PLAN_TYPE:
            self._run(_DELETE_VISITS, {"i": res_id})
        gone = Stored(res_type, res_id, version, stamp, True, current.content)
        self.written.append(Write(gone, created=False, changed=True))
        return gone

    @property
    def author(self) -> str | None:
        """The referring organisation this unit of work writes for (the actor's `writes_for`), if any."""
        author = getattr(self.actor, "writes_for", None)
        return author if isinstance(author, str) else None

    def _record_version(
        self, res_type: str, res_id: str, version: int, stamp: str, method: str, text: str
    ) -> None:
        self._hold(
            _INSERT_VERSION,
            [
                {
                    "res_type": res_type,
                    "res_id": res_id,
                    "version_id": version,
                    "last_updated": stamp,
                    "method": method,
                    "content": text,
                    "author": self.author,
                }
            ],
        )

    def _reindex(self, res_type: str, res_id: str, body: dict[str, Any], fresh: bool = False) -> None:
        """The index rows of `body`; a resource new to the store (`fresh`) has none to delete first."""
        if not fresh:
            self._run(_DELETE_INDEX, {"t": res_type, "i": res_id})
        indexed = index_rows(body)
        _fits(
            [
                (element_of(res_type, r.param), x)
                for r in indexed
                for x in (r.system, r.value)
                if x is not None
            ]
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
            for r in indexed
        ]
        if rows:
            self._hold(_INSERT_INDEX, rows)
        if res_type == PLAN_TYPE:
            if not fresh:
                self._run(_DELETE_VISITS, {"i": res_id})
            visits = plan_visit_rows(res_id, body)
            if visits:
                self._hold(_INSERT_VISITS, visits)

    # --- who has a part in what ---------------------------------------------------------------
    def grant(self, res_type: str, res_id: str, organization: str) -> None:
        """Record that `organization` has a part in this resource (idempotent)."""
        _fits([(f"{res_type} (the organisation with a part in it)", organization)])
        # one statement: an existing grant is left as it is (ON CONFLICT DO NOTHING on the primary key)
        self._hold(
            _GRANT_SQLITE if self.is_sqlite else _GRANT_POSTGRES,
            [{"res_type": res_type, "res_id": res_id, "organization": organization}],
        )

    def has_access(self, res_type: str, res_id: str, organization: str) -> bool:
        ra = resource_access.c
        found = self._run(
            select(ra.res_id).where(
                ra.res_type == res_type, ra.res_id == res_id, ra.organization == organization
            )
        ).first()
        return found is not None

    def organizations_with_access(self, res_type: str, res_id: str) -> list[str]:
        ra = resource_access.c
        rows = self._run(select(ra.organization).where(ra.res_type == res_type, ra.res_id == res_id)).all()
        return sorted(str(r.organization) for r in rows)

    # --- business keys -----------------------------------------------------------------------
    def find_key(self, res_type: str, system: str, value: str, owner: str = "") -> str | None:
        k = business_key.c
        return self.conn.execute(  # business keys are never held back
            select(k.res_id).where(
                k.res_type == res_type, k.system == system, k.value == value, k.owner == owner
            )
        ).scalar_one_or_none()

    def claim_key(self, res_type: str, system: str, value: str, proposed_id: str, owner: str = "") -> str:
        """The id already holding this business key, or `proposed_id` now holding it.

        A concurrent claim of the same key waits for the other transaction and then fails on the
        primary key; `Store.write` re-runs the unit of work, which then finds the winner's id.
        """
        existing = self.find_key(res_type, system, value, owner)
        if existing is not None:
            return existing
        _fits([(f"{res_type}.identifier.system", system), (f"{res_type}.identifier.value", value)])
        self._run(
            insert(business_key).values(
                res_type=res_type, system=system, value=value, owner=owner, res_id=proposed_id
            )
        )
        return proposed_id

    # --- token endpoint -------------------------------------------------------------------------
    def use_assertion(self, jti: str, expires: int, now: int) -> bool:
        self._run(delete(used_assertion).where(used_assertion.c.expires < now - 60))
        if self._run(select(used_assertion.c.jti).where(used_assertion.c.jti == jti)).first():
            return False
        try:
            with self.conn.begin_nested():
                self._run(insert(used_assertion).values(jti=jti, expires=expires))
        except IntegrityError:  # a concurrent use of the same assertion got there first
            return False
        return True


@dataclass(frozen=True)
class _Row:
    """A row of `resource` as this unit of work last saw or wrote it (its content as stored: JSON)."""

    res_type: str
    res_id: str
    version_id: int
    last_updated: str
    deleted: bool
    content: str


# Statements built once (bound parameters), not per call: building and cache-keying a SQLAlchemy
# statement cost more than executing it on SQLite.
_GET = select(resource).where(resource.c.res_type == bindparam("t"), resource.c.res_id == bindparam("i"))
_INSERT_RESOURCE = insert(resource)
_INSERT_VERSION = insert(resource_version)
_INSERT_INDEX = insert(search_index)
_DELETE_INDEX = delete(search_index).where(
    search_index.c.res_type == bindparam("t"), search_index.c.res_id == bindparam("i")
)
_INSERT_VISITS = insert(plan_visit)
_DELETE_VISITS = delete(plan_visit).where(plan_visit.c.res_id == bindparam("i"))
_GRANT_SQLITE = sqlite.insert(resource_access).on_conflict_do_nothing()
_GRANT_POSTGRES = postgresql.insert(resource_access).on_conflict_do_nothing()

#: The width of the columns that keep identifiers, codes and references (search index, business keys,
#: organisations): longer values are refused on both databases (PostgreSQL fails on them, SQLite
#: would store them). The edge refuses them first, naming the element (`adapter.fhir.limits`).
COLUMN_WIDTH = 255


def _fits(values: list[tuple[str, str]]) -> None:
    """422 naming each element whose value does not fit its column."""
    issues = [
        Issue(f"The value is {len(v)} characters; at most {COLUMN_WIDTH} are kept", (element,), "too-long")
        for element, v in values
        if len(v) > COLUMN_WIDTH
    ]
    if issues:
        raise FhirError(422, issues)


def _compare(
    low_col: ColumnElement[str], high_col: ColumnElement[str], a: Alternative
) -> ColumnElement[bool]:
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


def _version(row: Any) -> Stored:
    """A row of `resource_version` as a Stored version (a deletion when its method says so)."""
    return Stored(
        row.res_type,
        row.res_id,
        row.version_id,
        row.last_updated,
        row.method == "DELETE",
        json.loads(row.content),
        row.author,
    )


def _row(found: Any) -> _Row:
    f = found
    return _Row(f.res_type, f.res_id, f.version_id, f.last_updated, bool(f.deleted), f.content)


def _stored(row: Any) -> Stored:
    return Stored(
        row.res_type, row.res_id, row.version_id, row.last_updated, bool(row.deleted), json.loads(row.content)
    )
