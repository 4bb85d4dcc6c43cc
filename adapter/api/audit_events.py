"""AuditEvent: read and search for the privacy officer (the client's right to see who accessed her
data); never created, changed or deleted through the API."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from adapter.api.context import accept_checked, ctx, page
from adapter.api.guard import require
from adapter.api.responses import FhirResponse
from adapter.api.search_results import page_links
from adapter.fhir.outcome import FhirError
from adapter.fhir.search import refuse_unknown
from adapter.security.scopes import READ, SEARCH

router = APIRouter(dependencies=[Depends(accept_checked)])


@router.get("/AuditEvent")
def search(request: Request) -> FhirResponse:
    require(request, "AuditEvent", SEARCH)
    q = request.query_params
    refuse_unknown("AuditEvent", set(q), {"patient", "_count", "_offset", "_format"})
    patient = q.get("patient")
    if patient is not None and not patient.startswith("Patient/"):
        patient = f"Patient/{patient}"
    c = ctx(request)
    count, offset = page(request)
    total, events = c.audit.search(patient, count, offset)
    entries = [
        {"fullUrl": f"{c.base}/AuditEvent/{e['id']}", "resource": e, "search": {"mode": "match"}}
        for e in events
    ]
    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": total,
        "link": page_links(f"{c.base}/AuditEvent", list(q.multi_items()), total, count, offset),
        "entry": entries,
    }
    return FhirResponse(bundle)


@router.get("/AuditEvent/{event_id}")
def read(event_id: str, request: Request) -> FhirResponse:
    require(request, "AuditEvent", READ)
    event = ctx(request).audit.read(event_id)
    if event is None:
        raise FhirError.one(404, f"AuditEvent/{event_id} is not known", code="not-found")
    return FhirResponse(event)


@router.api_route("/AuditEvent", methods=["POST", "PUT", "DELETE", "PATCH"])
@router.api_route("/AuditEvent/{event_id}", methods=["POST", "PUT", "DELETE", "PATCH"])
def immutable(request: Request) -> FhirResponse:
    refusal = FhirError.one(
        405,
        "The audit log is append-only: AuditEvents cannot be written, changed or deleted",
        code="not-supported",
    )
    refusal.headers["Allow"] = "GET"
    raise refusal
