"""System-level interactions: the referral transaction (intake) and `$check-eligibility`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from adapter.api.context import accept_checked, ctx, read_fhir_body
from adapter.api.guard import access, require, writer
from adapter.api.responses import FhirResponse
from adapter.mapping.decision_out import to_parameters
from adapter.mapping.referral_in import read_referral
from adapter.security.scopes import CREATE
from adapter.security.senders import Sender
from adapter.store.session import Write
from adapter.workflows.intake import IntakeResult, check_eligibility, receive_referral, referral_bundle

router = APIRouter(dependencies=[Depends(accept_checked)])


@router.post("/")
async def transaction(request: Request) -> FhirResponse:
    """Intake: the referral transaction Bundle, stored whole or not at all."""
    who = require(request, "ServiceRequest", CREATE)
    Sender.of(who).sends()
    bundle = await read_fhir_body(request)
    referral = await run_in_threadpool(read_referral, bundle)
    # Database work runs in the thread pool: the event loop keeps serving other requests meanwhile.
    result = await run_in_threadpool(
        receive_referral, writer(request), referral, Sender.of(who), ctx(request).deployment
    )
    record = access(request)
    for w in result.touched:
        record.touched(w.stored.reference, result.patient_reference)
    return FhirResponse(_transaction_response(result, ctx(request).base))


@router.post("/$check-eligibility")
async def check_eligibility_operation(request: Request) -> FhirResponse:
    """The decision only; stores nothing. Body: the referral Bundle, or Parameters with `referral`."""
    require(request, "ServiceRequest", CREATE)
    body = await read_fhir_body(request)
    bundle = referral_bundle(body)
    decision = await run_in_threadpool(check_eligibility, bundle, ctx(request).deployment)
    return FhirResponse(to_parameters(decision))


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
    sent no Task, the Task the adapter made for the closed loop; and the CarePlan when accepted."""
    entries = [_entry(w, base) for w in result.writes]
    if not result.task_in_bundle:
        entries.append(_entry(result.task, base))
    entries.append(_entry(result.guidance, base))
    if result.careplan is not None:
        entries.append(_entry(result.careplan, base))
    return {"resourceType": "Bundle", "type": "transaction-response", "entry": entries}
