"""The rules of a Bundle that span its entries, checked natively (fhirpathpy on a large Bundle is slow).

`bundle_issues(bundle, expr)` -> [(diagnostics, expression, IssueType code)]:

  * the R4 invariants bdl-1 (total only in a searchset or history), bdl-2 (search only in a
    searchset), bdl-3 (request exactly in batch, transaction, history), bdl-4 (response exactly in
    batch-response, transaction-response, history), bdl-5 (an entry has a resource, request or
    response), bdl-7 (fullUrl unique, except versions in a history), bdl-8 (no `/_history/` in
    fullUrl), bdl-9, bdl-10, bdl-11 (a document: identifier, timestamp, Composition first), bdl-12
    (a message: MessageHeader first);
  * fullUrl present wherever R4 requires it (every entry with a resource, except a create in a
    batch or transaction and the entries of a batch-response or transaction-response);
  * fullUrl agrees with its resource: a RESTful `.../Type/id` names the resource's type and id, a
    `urn:uuid:` is a UUID, a `urn:oid:` an OID;
  * unique ids: no two entries hold the same `Type/id` (except versions in a history, and creates,
    whose ids the server assigns).
"""

from __future__ import annotations

import re
from typing import Any

_UUID = re.compile(r"urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_OID = re.compile(r"urn:oid:[0-2](\.(0|[1-9][0-9]*))+")
_RESTFUL = re.compile(r"^https?://.*/([A-Z][A-Za-z]+)/([A-Za-z0-9\-\.]{1,64})$")
_WITH_REQUEST = frozenset({"batch", "transaction", "history"})
_WITH_RESPONSE = frozenset({"batch-response", "transaction-response", "history"})
_NO_FULL_URL_NEEDED = frozenset({"batch-response", "transaction-response"})

Finding = tuple[str, str, str]  # (diagnostics, expression, IssueType code)


def bundle_issues(bundle: dict[str, Any], expr: str) -> list[Finding]:
    btype = bundle.get("type")
    entries = bundle.get("entry")
    entries = [e if isinstance(e, dict) else {} for e in entries] if isinstance(entries, list) else []
    out: list[Finding] = []
    if "total" in bundle and btype not in ("searchset", "history"):
        out.append(("bdl-1: total only when a search or history", f"{expr}.total", "invariant"))
    for i, entry in enumerate(entries):
        out += _entry_issues(entry, str(btype), f"{expr}.entry[{i}]")
    out += _document_or_message(bundle, str(btype), entries, expr)
    out += _duplicates(entries, str(btype), expr)
    return out


def _entry_issues(entry: dict[str, Any], btype: str, expr: str) -> list[Finding]:
    out: list[Finding] = []
    if "search" in entry and btype != "searchset":
        out.append(("bdl-2: entry.search only when a search", f"{expr}.search", "invariant"))
    if ("request" in entry) != (btype in _WITH_REQUEST):
        why = "bdl-3: entry.request mandatory for batch/transaction/history, otherwise prohibited"
        out.append((why, f"{expr}.request", "invariant"))
    if ("response" in entry) != (btype in _WITH_RESPONSE):
        why = "bdl-4: entry.response mandatory for batch-/transaction-response, history; otherwise prohibited"
        out.append((why, f"{expr}.response", "invariant"))
    if not any(k in entry for k in ("resource", "request", "response")):
        out.append(("bdl-5: an entry must have a resource, a request or a response", expr, "invariant"))
    out += _full_url_issues(entry, btype, expr)
    return out


def _full_url_issues(entry: dict[str, Any], btype: str, expr: str) -> list[Finding]:
    full_url = entry.get("fullUrl")
    resource = entry.get("resource")
    if not isinstance(full_url, str):
        needed = isinstance(resource, dict) and btype not in _NO_FULL_URL_NEEDED and _method(entry) != "POST"
        why = "fullUrl is required for an entry with a resource (except a create)"
        return [(why, expr, "required")] if needed else []
    at = f"{expr}.fullUrl"
    if "/_history/" in full_url:
        return [("bdl-8: fullUrl cannot be a version specific reference", at, "invariant")]
    for prefix, pattern, what in (
        ("urn:uuid:", _UUID, "a urn:uuid: (lower-case UUID)"),
        ("urn:oid:", _OID, "an OID"),
    ):
        if full_url.startswith(prefix) and not pattern.fullmatch(full_url):
            return [(f"fullUrl {full_url!r} is not {what}", at, "value")]
    m = _RESTFUL.match(full_url)
    said = f"{resource.get('resourceType')}/{resource.get('id')}" if isinstance(resource, dict) else ""
    if m and "id" in (resource or {}) and f"{m.group(1)}/{m.group(2)}" != said:
        return [(f"fullUrl {full_url} does not match the resource it holds ({said})", at, "invalid")]
    return []


def _document_or_message(
    bundle: dict[str, Any], btype: str, entries: list[dict[str, Any]], expr: str
) -> list[Finding]:
    first = entries[0].get("resource") if entries else None
    first_type = first.get("resourceType") if isinstance(first, dict) else None
    out: list[Finding] = []
    if btype == "document":
        ident = bundle["identifier"] if isinstance(bundle.get("identifier"), dict) else {}
        if not (ident.get("system") and ident.get("value")):
            why = "bdl-9: a document must have an identifier with a system and a value"
            out.append((why, f"{expr}.identifier", "invariant"))
        if not bundle.get("timestamp"):
            out.append(("bdl-10: a document must have a date", f"{expr}.timestamp", "invariant"))
        if first_type != "Composition":
            why = "bdl-11: a document must have a Composition as the first resource"
            out.append((why, expr, "invariant"))
    if btype == "message" and first_type != "MessageHeader":
        out.append(("bdl-12: a message must have a MessageHeader as the first resource", expr, "invariant"))
    return out


def _duplicates(entries: list[dict[str, Any]], btype: str, expr: str) -> list[Finding]:
    """bdl-7 (the same fullUrl twice, unless versions of a history) and the same Type/id twice."""
    out: list[Finding] = []
    urls: dict[tuple[str, Any], int] = {}
    ids: dict[str, int] = {}
    for i, e in enumerate(entries):
        resource = e["resource"] if isinstance(e.get("resource"), dict) else {}
        meta = resource["meta"] if isinstance(resource.get("meta"), dict) else {}
        if isinstance(e.get("fullUrl"), str) and btype != "history":
            key = (e["fullUrl"], meta.get("versionId"))
            if key in urls:
                why = f"bdl-7: fullUrl {e['fullUrl']} is also the fullUrl of entry[{urls[key]}]"
                out.append((why, f"{expr}.entry[{i}].fullUrl", "invariant"))
            urls.setdefault(key, i)
        if "id" in resource and btype != "history" and _method(e) != "POST":
            rid = f"{resource.get('resourceType')}/{resource.get('id')}"
            if rid in ids:
                why = f"{rid} is also the resource of entry[{ids[rid]}]: resource ids are unique in a Bundle"
                out.append((why, f"{expr}.entry[{i}].resource.id", "invalid"))
            ids.setdefault(rid, i)
    return out


def _method(entry: dict[str, Any]) -> Any:
    request = entry.get("request")
    return request.get("method") if isinstance(request, dict) else None
