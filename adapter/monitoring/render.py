"""MeasureReports as a report file: JSON (a collection Bundle), CSV (one line per population count) or
HTML (a table per measure). A masked count is written as the text it carries ("< 10")."""

from __future__ import annotations

import csv
import html
import io
import json
import uuid
from collections.abc import Iterator
from datetime import date
from typing import Any

from adapter.fhir.outcome import FhirError

FORMATS = ("json", "csv", "html")
COLUMNS = ("measure", "group", "stratifier", "stratum", "population", "count", "score")


def parse_period(raw: str) -> tuple[date, date]:
    """`2026` (the year) or `2026-01-01..2026-06-30` (both days included)."""
    try:
        if raw.isdigit() and len(raw) == 4:
            return date(int(raw), 1, 1), date(int(raw), 12, 31)
        first, sep, last = raw.partition("..")
        if sep:
            return date.fromisoformat(first), date.fromisoformat(last)
    except ValueError:
        pass
    raise FhirError.one(
        400, f"--period {raw!r}: a year (2026) or FIRST..LAST (2026-01-01..2026-06-30)", "period"
    )


def _count(p: dict[str, Any]) -> str:
    if "count" in p:
        return str(p["count"])
    texts = [e.get("valueString") for e in p.get("_count", {}).get("extension", []) if "valueString" in e]
    return str(texts[0]) if texts else ""


def _score(part: dict[str, Any]) -> str:
    value = part.get("measureScore", {}).get("value")
    return "" if value is None else str(value)


def rows(report: dict[str, Any]) -> Iterator[tuple[str, ...]]:
    measure = str(report["measure"]).rsplit("/", 1)[-1]
    for g in report["group"]:
        code = g["code"]["text"]
        for p in g["population"]:
            yield measure, code, "", "", p["code"]["coding"][0]["code"], _count(p), _score(g)
        for st in g.get("stratifier", []):
            for stratum in st["stratum"]:
                for p in stratum["population"]:
                    yield (measure, code, st["code"][0]["text"], stratum["value"]["text"],
                           p["code"]["coding"][0]["code"], _count(p), _score(stratum))  # fmt: skip


def render(reports: list[dict[str, Any]], fmt: str) -> str:
    if fmt == "json":
        bundle = {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": r} for r in reports],
        }
        return json.dumps(bundle, indent=2, ensure_ascii=False) + "\n"
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(COLUMNS)
        for r in reports:
            writer.writerows(rows(r))
        return out.getvalue()
    return _html(reports)


def _html(reports: list[dict[str, Any]]) -> str:
    parts = [
        "<!DOCTYPE html>",
        '<html lang="nl"><head><meta charset="utf-8"><title>VoorZorg monitoring</title>',
        "<style>td,th{padding:2px 8px;text-align:left}td.n{text-align:right}</style></head><body>",
    ]
    for r in reports:
        period = r["period"]
        parts.append(f"<h2>{html.escape(r['measure'])}</h2><p>{period['start']} – {period['end']}</p><table>")
        parts.append("<tr>" + "".join(f"<th>{c}</th>" for c in COLUMNS[1:]) + "</tr>")
        for row in rows(r):
            cells = [f"<td>{html.escape(v)}</td>" for v in row[1:5]]
            cells += [f'<td class="n">{html.escape(v)}</td>' for v in row[5:]]
            parts.append("<tr>" + "".join(cells) + "</tr>")
        parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
