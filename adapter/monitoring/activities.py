"""The planned visits of every care plan as rows, projected by the database from the stored JSON.

Dosage needs each plan activity's date, status and kind; reading every CarePlan (40-60 activities, some
30 kB of JSON each) and parsing it in Python cost seconds for a region, so the database projects the few
fields (SQLite `json_each` / `json_extract`, PostgreSQL `jsonb_array_elements`) over the store's own
table; an evaluation moment is told by its visit-kind code in the activity's text. Only activities dated
from a year before the period (a phase ending in the period began at most a year before it) until its end
are read. A session without SQL (none today) falls back to reading the plans.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import text

from adapter.mapping.careplan_out import KIND_EXT, activity_date
from adapter.store.session import Session

_SQLITE = """
WITH p AS MATERIALIZED (
  SELECT json_extract(content, '$.supportingInfo[0].reference') AS referral,
         json_extract(content, '$.instantiatesCanonical[0]') AS canonical,
         json_extract(content, '$.activity') AS activity
  FROM resource WHERE res_type = 'CarePlan' AND deleted = 0
)
SELECT p.referral, p.canonical,
       substr(json_extract(a.value, '$.detail.scheduledPeriod.start'), 1, 10) AS day,
       json_extract(a.value, '$.detail.status') AS status,
       CASE WHEN instr(a.value, :evaluation) > 0 THEN 'evaluation' END AS kind
FROM p, json_each(p.activity) a
WHERE substr(json_extract(a.value, '$.detail.scheduledPeriod.start'), 1, 10) BETWEEN :lo AND :hi
"""
_POSTGRES = """
WITH plans AS MATERIALIZED (
  SELECT content::jsonb AS c FROM resource WHERE res_type = 'CarePlan' AND NOT deleted
), p AS MATERIALIZED (
  SELECT c -> 'supportingInfo' -> 0 ->> 'reference' AS referral,
         c -> 'instantiatesCanonical' ->> 0 AS canonical,
         c -> 'activity' AS activity
  FROM plans
)
SELECT p.referral, p.canonical,
       substr(a -> 'detail' -> 'scheduledPeriod' ->> 'start', 1, 10) AS day,
       a -> 'detail' ->> 'status' AS status,
       CASE WHEN strpos(a::text, :evaluation_pg) > 0 THEN 'evaluation' END AS kind
FROM p CROSS JOIN LATERAL jsonb_array_elements(p.activity) a
WHERE substr(a -> 'detail' -> 'scheduledPeriod' ->> 'start', 1, 10) BETWEEN :lo AND :hi
"""


@dataclass(frozen=True)
class Activity:
    referral: str
    canonical: str
    on: date
    status: str
    kind: str | None


def activities(session: Session, start: date, end: date) -> Iterator[Activity]:
    lo, hi = (start - timedelta(days=366)).isoformat(), end.isoformat()
    conn: Any = getattr(session, "conn", None)
    if conn is None:  # pragma: no cover - every session is an SqlSession today
        yield from _read(session, lo, hi)
        return
    query = _SQLITE if session.is_sqlite else _POSTGRES
    marks = {"evaluation": '"valueCode":"evaluation"', "evaluation_pg": '"valueCode": "evaluation"'}
    for row in conn.execute(text(query), {"lo": lo, "hi": hi, **marks}):
        if row.referral and row.day:
            yield Activity(
                row.referral, row.canonical or "", date.fromisoformat(row.day), row.status, row.kind
            )


def _read(session: Session, lo: str, hi: str) -> Iterator[Activity]:  # pragma: no cover
    for plan in session.every("CarePlan", []):
        c = plan.content
        referral = str((c.get("supportingInfo") or [{}])[0].get("reference", ""))
        canonical = str((c.get("instantiatesCanonical") or [""])[0])
        for a in c.get("activity", []):
            detail = a.get("detail", {})
            kinds = [e.get("valueCode") for e in detail.get("extension", []) if e.get("url") == KIND_EXT]
            if "scheduledPeriod" in detail and lo <= detail["scheduledPeriod"]["start"][:10] <= hi:
                yield Activity(
                    referral, canonical, activity_date(a), detail.get("status", ""), (kinds or [None])[0]
                )


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
    for row in conn.execute(text(_ADDRESSES[session.is_sqlite])):
        out[f"Patient/{row.res_id}"] = {"address": json.loads(row.address)} if row.address else {}
    return out
