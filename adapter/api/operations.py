"""System-level interactions: the referral transaction (intake) and `$check-eligibility`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from adapter.api.context import check_accept, ctx, read_fhir_body
from adapter.api.responses import FhirResponse
from adapter.mapping.decision_out import to_parameters
from adapter.store.repository import Write
from adapter.workflows.intake import IntakeResult, check_eligibility, intake, referral_bundle

router = APIRouter(dependencies=[Depends(check_accept)])


@router.post("/")
async def transaction(request: Request) -> FhirResponse:
    """Intake: the referral transaction Bundle, stored whole or not at all."""
    bundle = await read_fhir_body(request)
    result = intake(ctx(request).store, bundle, ctx(request).deployment)
    return FhirResponse(_transaction_response(result, ctx(request).base))


@router.post("/$check-eligibility")
async def check_eligibility_operation(request: Request) -> FhirResponse:
    """The decision only; stores nothing. Body: the referral Bundle, or Parameters with `referral`."""
    body = await read_fhir_body(request)
    bundle = referral_bundle(body)
    return FhirResponse(to_parameters(check_eligibility(bundle, ctx(request).deployment)))


def _entry(w: Write, base: str) -> dict[str, Any]:
    s = w.stored
    return {
        "fullUrl": f"{base}/{s.reference}",
        "resource": s.content,
        "response": {
            "status": "201 Created" if w.created else "200 OK",
            "location": f"{s.reference}/_history/{s.version_id}",
            "etag": s.etag,
            "lastModified": s.last_updated,
        },
    }


def _transaction_response(result: IntakeResult, base: str) -> dict[str, Any]:
    """One entry per request entry, in order; then the decision (GuidanceResponse) and, when the sender
    sent no Task, the Task the adapter made for the closed loop."""
    entries = [_entry(w, base) for w in result.writes]
    if not result.task_in_bundle:
        entries.append(_entry(result.task, base))
    entries.append(_entry(result.guidance, base))
    return {"resourceType": "Bundle", "type": "transaction-response", "entry": entries}
