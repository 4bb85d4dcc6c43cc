"""A search's answer as a searchset Bundle: the page of matches, what `_include`/`_revinclude` brought
(search mode `include`), an OperationOutcome (mode `outcome`) when something was left out of those, and
`_summary` / `_elements` / `_total` applied (adapter/fhir/subsetting.py)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from adapter.api.responses import searchset
from adapter.fhir.outcome import Issue, operation_outcome
from adapter.fhir.search import SearchQuery
from adapter.fhir.subsetting import subset
from adapter.workflows.reading import Page


def search_bundle(
    found: Page, q: SearchQuery, base: str, self_url: str, page_url: Callable[[int], str]
) -> dict[str, Any]:
    bundle = searchset(found.found, found.total, base, self_url, page_url, q.count, q.offset)
    summary = None if q.summary == "count" else q.summary
    entries: list[dict[str, Any]] = bundle.get("entry", [])
    for entry in entries:
        entry["resource"] = subset(entry["resource"], summary, q.elements)
    entries += [
        {
            "fullUrl": f"{base}/{s.reference}",
            "resource": subset(s.content, summary, None),
            "search": {"mode": "include"},
        }
        for s in found.included
    ]
    if found.notes:
        outcome = operation_outcome([Issue(n, (), "incomplete", "warning") for n in found.notes])
        entries.append(
            {"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": outcome, "search": {"mode": "outcome"}}
        )
    if entries or "entry" in bundle:
        bundle["entry"] = entries
    if not q.with_total:
        bundle.pop("total", None)
    return bundle


def page_links(
    url: str, params: list[tuple[str, str]], total: int, count: int, offset: int
) -> list[dict[str, str]]:
    """`self`, and `next` / `previous` where there is such a page, for a search at `url`."""

    def at(o: int) -> str:
        kept = [(k, v) for k, v in params if k not in ("_count", "_offset", "_format")]
        return f"{url}?{urlencode([*kept, ('_count', str(count)), ('_offset', str(o))])}"

    links = [{"relation": "self", "url": at(offset)}]
    if count > 0 and offset + count < total:
        links.append({"relation": "next", "url": at(offset + count)})
    if offset > 0:
        links.append({"relation": "previous", "url": at(max(0, offset - count))})
    return links


def paged_searchset(
    url: str, params: list[tuple[str, str]], entries: list[dict[str, Any]], count: int, offset: int
) -> dict[str, Any]:
    """A searchset of already made entries (every match), cut to the page `_count`/`_offset` ask for."""
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(entries),
        "link": page_links(url, params, len(entries), count, offset),
    }
    page = entries[offset : offset + count]
    if page:
        bundle["entry"] = page
    return bundle
