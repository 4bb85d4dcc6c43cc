"""FHIR responses: `application/fhir+json`, ETag and Last-Modified, Bundles of stored resources."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from email.utils import format_datetime
from typing import Any

from starlette.responses import Response

from adapter.fhir.models import FHIR_JSON
from adapter.fhir.outcome import FhirError, operation_outcome
from adapter.store.session import Stored


class FhirResponse(Response):
    media_type = FHIR_JSON

    def __init__(
        self, content: dict[str, Any], status_code: int = 200, headers: dict[str, str] | None = None
    ) -> None:
        body = json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        super().__init__(
            body, status_code=status_code, headers=headers, media_type=f"{FHIR_JSON}; charset=utf-8"
        )


SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
}

log = logging.getLogger("voorzorg.api")


def error_response(e: FhirError) -> FhirResponse:
    return FhirResponse(operation_outcome(e.issues), e.status, headers=e.headers or None)


def internal_error(e: Exception) -> FhirResponse:
    """A 500 that says nothing of the internals; logged by exception type only, since exception texts
    can carry client data (BSN, names) from the payload or the database."""
    log.error("unexpected error while handling a request: %s", type(e).__name__)
    response = error_response(
        FhirError.one(500, "Internal error; the request was not completed", code="exception")
    )
    response.headers.update(SECURITY_HEADERS)
    return response


def http_date(instant: str) -> str:
    return format_datetime(datetime.fromisoformat(instant.replace("Z", "+00:00")), usegmt=True)


def version_headers(stored: Stored, base: str) -> dict[str, str]:
    return {
        "ETag": stored.etag,
        "Last-Modified": http_date(stored.last_updated),
        "Content-Location": f"{base}/{stored.reference}/_history/{stored.version_id}",
    }


def resource_response(stored: Stored, base: str, status: int = 200) -> FhirResponse:
    headers = version_headers(stored, base)
    if status == 201:
        headers["Location"] = headers["Content-Location"]
    return FhirResponse(stored.content, status, headers)


def searchset(
    entries: list[Stored], total: int, base: str, self_url: str, page_url: Any, count: int, offset: int
) -> dict[str, Any]:
    """A searchset Bundle; `page_url(offset)` makes the link to another page."""
    links = [{"relation": "self", "url": self_url}]
    if offset + count < total and count > 0:
        links.append({"relation": "next", "url": page_url(offset + count)})
    if offset > 0:
        links.append({"relation": "previous", "url": page_url(max(0, offset - count))})
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": total,
        "link": links,
        "entry": [
            {"fullUrl": f"{base}/{s.reference}", "resource": s.content, "search": {"mode": "match"}}
            for s in entries
        ],
    }


def history_bundle(entries: list[Stored], total: int, base: str, self_url: str) -> dict[str, Any]:
    out = []
    for s in entries:
        entry: dict[str, Any] = {
            "fullUrl": f"{base}/{s.reference}",
            "request": {
                "method": "DELETE" if s.deleted else ("POST" if s.version_id == 1 else "PUT"),
                "url": s.reference if s.version_id > 1 or s.deleted else s.res_type,
            },
            "response": {
                "status": "204" if s.deleted else ("201" if s.version_id == 1 else "200"),
                "etag": s.etag,
                "lastModified": s.last_updated,
            },
        }
        if not s.deleted:
            entry["resource"] = s.content
        out.append(entry)
    return {
        "resourceType": "Bundle",
        "type": "history",
        "total": total,
        "link": [{"relation": "self", "url": self_url}],
        "entry": out,
    }
