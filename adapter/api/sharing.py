"""The client's sharing consents: record one (`POST /Consent`), change or withdraw it (`PUT`) — the JGZ's
step only (access-policy.yaml `sharing-consent`): any other role gets 403, before anything is read."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from adapter.api.context import accept_checked, ctx, if_match_version, read_fhir_body
from adapter.api.guard import access, may_call, require, viewer, writer
from adapter.api.responses import FhirResponse, resource_response
from adapter.security.scopes import CREATE, UPDATE
from adapter.workflows.sharing import ConsentRecorded, record_consent, update_consent

router = APIRouter(dependencies=[Depends(accept_checked)])


@router.post("/Consent")
async def create_consent(request: Request) -> FhirResponse:
    may_call(request, "sharing-consent")
    require(request, "Consent", CREATE)
    body = await read_fhir_body(request)
    recorded = await run_in_threadpool(record_consent, writer(request), viewer(request), body)
    return _answer(request, recorded, 201 if recorded.consent.created else 200)


@router.put("/Consent/{consent_id}")
async def change_consent(consent_id: str, request: Request) -> FhirResponse:
    may_call(request, "sharing-consent")
    require(request, "Consent", UPDATE)
    body = await read_fhir_body(request)
    expected = if_match_version(request)
    recorded = await run_in_threadpool(
        update_consent, writer(request), viewer(request), consent_id, body, expected
    )
    return _answer(request, recorded, 200)


def _answer(request: Request, recorded: ConsentRecorded, status: int) -> FhirResponse:
    access(request).touched(recorded.consent.stored.reference, recorded.patient)
    return resource_response(recorded.consent.stored, ctx(request).base, status)
