"""What the monitoring reads from the store in SQL: the elements of a type's resources it needs
(`project`), the visits planned and done in a phase (dosage), and her address.

Loading whole resources (`Session.search`) and parsing their JSON in Python cost 1-2 s a type for a region
of 10,000 clients; `project` has the database take the few elements each unit needs out of the stored JSON
(`->` on SQLite, `#>` on PostgreSQL), so Python parses only those, and each distinct text once.

Dosage needs each plan activity's date, status and kind; reading every CarePlan (40-60 activities, some
30 kB of JSON each) cost seconds for a region, even with the database projecting them (`json_each` /
`jsonb_array_elements` over every plan). The store keeps a plan's dated activities as rows (`plan_visit`,
adapter.store.plan_visits), so the database counts them per phase: the phases go in as one JSON
parameter, the counts come back per phase, plan definition and kind (a handful of rows a phase), and the
caller leaves out what is no visit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import cast, literal_column, select, text
from sqlalchemy.dialects.postgresql import JSONB

from adapter.store.schema import resource
from adapter.store.session import Match, Session

_PHASES = {
    True: "SELECT json_extract(value, '$.k') AS k, json_extract(value, '$.referral') AS referral, "
    "json_extract(value, '$.lo') AS lo, json_extract(value, '$.hi') AS hi FROM json_each(:phases)",
    False: "SELECT * FROM jsonb_to_recordset(CAST(:phases AS jsonb)) "
    "AS x(k int, referral text, lo text, hi text)",
}
_COUNTS = """
WITH ph AS ({phases})
SELECT ph.k AS k, v.canonical AS canonical, v.kind AS kind, count(*) AS visits,
       sum(CASE WHEN v.status = 'completed' THEN 1 ELSE 0 END) AS done
FROM ph JOIN plan_visit v ON v.referral = ph.referral AND v.day >= ph.lo AND v.day <= ph.hi
GROUP BY ph.k, v.canonical, v.kind
"""


def project(
    session: Session, res_type: str, matches: list[Match], elements: tuple[str, ...]
) -> list[tuple[str, dict[str, Any]]]:
    """(id, the `elements` it has) of each resource `Session.search` finds, in its order. An element is
    a top-level one (`period`) or a path into it (`subject.reference`, `code.coding`), the key it has."""
    sql: Any = session  # an SqlSession: the conditions of its search
    stored = resource.c.content if session.is_sqlite else cast(resource.c.content, JSONB)
    found = (
        select(resource.c.res_id, resource.c.last_updated, stored.label("c"))
        .where(*sql.conditions(res_type, matches))
        .cte("r")
        .prefix_with("MATERIALIZED")  # the JSON parsed once a resource (PostgreSQL), not once an element
    )
    if session.is_sqlite:
        columns = [f"r.c -> '$.{e}'" for e in elements]
    else:
        columns = [f"CAST(r.c #> '{{{e.replace('.', ',')}}}' AS text)" for e in elements]
    query = select(found.c.res_id, *map(literal_column, columns)).order_by(
        found.c.last_updated, found.c.res_id
    )
    # each element's JSON text parsed once a call: codes, references to the few organisations, dates,
    # repeat from resource to resource (the readers only read what they are given)
    parsed: dict[str, Any] = {}
    out = []
    for row in sql.conn.execute(query):
        content: dict[str, Any] = {}
        for e, raw in zip(elements, row[1:], strict=True):
            if raw is None:
                continue
            value = parsed.get(raw)
            if value is None:
                value = parsed[raw] = json.loads(raw)
            if value is not None:
                content[e] = value
        out.append((row[0], content))
    return out


@dataclass(frozen=True)
class Span:
    """The days [lo, hi] (ISO dates) of the plans of a referral (`ServiceRequest/{id}`)."""

    referral: str
    lo: str
    hi: str


@dataclass(frozen=True)
class Counted:
    """The activities of a span planned by one plan definition (`canonical`) and of one `kind`."""

    span: int
    canonical: str
    kind: str | None
    visits: int
    done: int


def plan_activities(session: Session, spans: list[Span]) -> list[Counted]:
    """The activities of each span's referral's plans dated within it, counted (index in `spans`)."""
    if not spans:
        return []
    phases = json.dumps(
        [{"k": k, "referral": s.referral, "lo": s.lo, "hi": s.hi} for k, s in enumerate(spans)]
    )
    query = _COUNTS.format(phases=_PHASES[session.is_sqlite])
    conn: Any = session.conn  # type: ignore[attr-defined]
    return [
        Counted(int(r.k), r.canonical or "", r.kind, int(r.visits), int(r.done or 0))
        for r in conn.execute(text(query), {"phases": phases})
    ]


_ADDRESSES = {
    True: "SELECT res_id, json_extract(content, '$.address') AS address FROM resource "
    "WHERE res_type = 'Patient' AND deleted = 0",
    False: "SELECT res_id, (content::jsonb -> 'address')::text AS address FROM resource "
    "WHERE res_type = 'Patient' AND NOT deleted",
}


def addresses(session: Session) -> dict[str, dict[str, Any]]:
    """`Patient/{id}` -> {"address": [...]} of every client: only the addresses leave the database (her
    municipality is all the measures take from her Patient)."""
    conn: Any = getattr(session, "conn", None)
    if conn is None:  # pragma: no cover - every session is an SqlSession today
        return {p.reference: p.content for p in session.search("Patient", [], 10_000_000, 0)[1]}
    out: dict[str, dict[str, Any]] = {}
    parsed: dict[str, dict[str, Any]] = {}  # each distinct address parsed once (a region has a few dozen)
    for row in conn.execute(text(_ADDRESSES[session.is_sqlite])):
        if not row.address:
            out[f"Patient/{row.res_id}"] = {}
            continue
        if row.address not in parsed:
            parsed[row.address] = {"address": json.loads(row.address)}
        out[f"Patient/{row.res_id}"] = parsed[row.address]
    return out
