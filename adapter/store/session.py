"""What a unit of work sees of the store: the `Session` protocol and the values it deals in.

Workflows, the outbox and the audit log are written against this protocol, not against SQL, so they can
be tested on a real session of either backend (`adapter.store.sql.SqlSession` is the one implementation)
and read as the domain speaks: `s.find("CarePlan", patient=mother, status=("active", "on-hold"))`.

Four parts sit behind one session, all in the same database transaction:
- resources: current versions, history, search index, business keys, who has a part in what;
- `queue`: the outbox table (`adapter.store.queue.Queue`), what must reach a peer;
- `audit`: the audit chain's table (`adapter.store.audit_chain.AuditRows`);
- `subscriptions`: each Subscription's event count and last delivery (`adapter.store.subscription_state`);
- `exports`: the Bulk Data export jobs (`adapter.store.export_jobs`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from adapter.store.audit_chain import AuditRows
    from adapter.store.export_jobs import ExportJobs
    from adapter.store.queue import Queue
    from adapter.store.subscription_state import SubscriptionRows


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
    #: Of a version (vread, history): the referring organisation that wrote it; None: the JGZ or the adapter.
    author: str | None = None

    @property
    def etag(self) -> str:
        return f'W/"{self.version_id}"'

    @property
    def reference(self) -> str:
        return f"{self.res_type}/{self.res_id}"


#: A pseudo search parameter: only resources the organisation (Alternative.value) has a part in.
ACCESS = "_access"


@dataclass(frozen=True)
class Alternative:
    value: str | None = None
    system: str | None = None  # for tokens: None = any system, "" = no system
    compare: str = "eq"  # for dates and _lastUpdated: eq ne gt lt ge le (on `low`/`high` ranges)
    low: str | None = None
    high: str | None = None


@dataclass(frozen=True)
class Match:
    """One search criterion: any of `alternatives` matches (OR); criteria are ANDed."""

    param: str
    alternatives: tuple[Alternative, ...]


#: A criterion in the domain's words: a value, "system|code" for a token with its system, or several (OR).
Criterion = str | Sequence[str]


def criteria(**params: Criterion) -> list[Match]:
    """`status=("active", "on-hold"), code="http://…|voorzorg-consult-request"` as search criteria."""
    out = []
    for name, value in params.items():
        values = [value] if isinstance(value, str) else list(value)
        out.append(Match(name.replace("_", "-"), tuple(_alternative(v) for v in values)))
    return out


def _alternative(value: str) -> Alternative:
    system, sep, code = value.rpartition("|")
    return Alternative(value=code, system=system) if sep else Alternative(value=value)


@dataclass(frozen=True)
class Write:
    stored: Stored
    created: bool
    changed: bool


def new_id() -> str:
    return str(uuid.uuid4())


def same_content(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Equal but for the version and timestamp the store puts in meta."""

    def strip(d: dict[str, Any]) -> dict[str, Any]:
        meta = {k: v for k, v in d.get("meta", {}).items() if k not in ("versionId", "lastUpdated")}
        out = {k: v for k, v in d.items() if k != "meta"}
        if meta:
            out["meta"] = meta
        return out

    return strip(old) == strip(new)


class Session(Protocol):
    """A unit of work: one transaction on one connection.

    `written` lists every change the unit of work made, in order (puts that changed something, deletes),
    so the effects every unit of work runs before commit (`adapter.workflows.effects`) can act on them.
    `actor` is who the unit of work acts for (the request's or the command's audit context), or None.
    """

    written: list[Write]
    actor: object | None
    is_sqlite: bool
    #: Run after the transaction committed (not after a rolled-back attempt that is re-run).
    on_commit: list[Callable[[], None]]

    @property
    def queue(self) -> Queue: ...

    @property
    def audit(self) -> AuditRows: ...

    @property
    def subscriptions(self) -> SubscriptionRows: ...

    @property
    def exports(self) -> ExportJobs: ...

    # --- reads ---
    def get(self, res_type: str, res_id: str) -> Stored | None: ...

    def prefetch(self, keys: Iterable[tuple[str, str]]) -> None:
        """Read these (type, id) in one round trip, so the gets of them that follow cost none."""
        ...

    def live(self, reference: str) -> Stored | None:
        """The current, not deleted version of `Type/id`; None for anything else."""
        ...

    def get_version(self, res_type: str, res_id: str, version_id: int) -> Stored | None: ...

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
        """Versions, newest first; with `author_in`, only those the JGZ or that organisation wrote."""
        ...

    def search(
        self, res_type: str, matches: list[Match], count: int, offset: int, newest_first: bool = False
    ) -> tuple[int, list[Stored]]: ...

    def find(
        self, res_type: str, *, limit: int = 1000, newest_first: bool = False, **params: Criterion
    ) -> list[Stored]:
        """Up to `limit` current resources meeting every criterion (see `criteria`)."""
        ...

    def every(self, res_type: str, matches: list[Match], page: int = 500) -> list[Stored]:
        """Every current resource meeting the criteria, read page by page."""
        ...

    def count(self, res_type: str, **params: Criterion) -> int: ...

    def scan(
        self,
        res_type: str,
        since: str | None,
        after: tuple[str, str] | None,
        count: int,
        until: str | None = None,
    ) -> list[Stored]:
        """Up to `count` current resources of a type changed after `since` (and not after `until`), in
        (lastUpdated, id) order,
        from just past `after` (the last one of the previous page): a keyset page, as cheap at the end of
        a large table as at its start."""
        ...

    # --- writes ---
    def put(self, content: dict[str, Any], *, if_match: int | None = None, method: str = "PUT") -> Write: ...

    def delete(self, res_type: str, res_id: str) -> Stored | None: ...

    # --- who has a part in what ---
    def grant(self, res_type: str, res_id: str, organization: str) -> None: ...

    def has_access(self, res_type: str, res_id: str, organization: str) -> bool: ...

    def organizations_with_access(self, res_type: str, res_id: str) -> list[str]: ...

    # --- business keys (`owner`: the organisation whose numbering it is; '' = the key space all share) ---
    def find_key(self, res_type: str, system: str, value: str, owner: str = "") -> str | None: ...

    def claim_key(self, res_type: str, system: str, value: str, proposed_id: str, owner: str = "") -> str: ...

    # --- token endpoint ---
    def use_assertion(self, jti: str, expires: int, now: int) -> bool:
        """Record a client assertion id; False when it was used before (replay)."""
        ...
