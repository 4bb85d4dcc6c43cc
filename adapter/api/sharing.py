"""The client's sharing consents: record one (`POST /Consent`), change or withdraw it (`PUT`)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from adapter.api.context import check_accept, ctx, if_match_version, read_fhir_body
from adapter.api.guard import access, require, visible, writer
from adapter.api.responses import FhirResponse, resource_response
from adapter.fhir.outcome import FhirError
from adapter.security.scopes import CREATE, UPDATE
from adapter.workflows.sharing import ConsentRecorded, record_consent, update_consent

router = APIRouter(dependencies=[Depends(check_accept)])


@router.post("/Consent")
async def create_consent(request: Request) -> FhirResponse:
    require(request, "Consent", CREATE)
    body = await read_fhir_body(request)
    _may_see_patient(request, body)
    recorded = await run_in_threadpool(record_consent, writer(request), body)
    return _answer(request, recorded, 201 if recorded.consent.created else 200)


@router.put("/Consent/{consent_id}")
async def change_consent(consent_id: str, request: Request) -> FhirResponse:
    require(request, "Consent", UPDATE)
    body = await read_fhir_body(request)
    expected = if_match_version(request)
    _may_see_patient(request, body)
    recorded = await run_in_threadpool(update_consent, writer(request), consent_id, body, expected)
    return _answer(request, recorded, 200)


def _may_see_patient(request: Request, body: dict[str, object]) -> None:
    """Only for a client the caller has a part in: another's client is as unknown as a missing one."""
    patient = body.get("patient")
    ref = patient.get("reference") if isinstance(patient, dict) else None
    if not isinstance(ref, str) or ref.count("/") != 1:
        return  # the profile check names what is wrong
    with ctx(request).store.reading() as s:
        found = s.get(*ref.split("/", 1))
        if found is not None and not visible(request, s, found):
            raise FhirError.one(422, f"{ref} is not known", "Consent.patient", code="not-found")


def _answer(request: Request, recorded: ConsentRecorded, status: int) -> FhirResponse:
    access(request).touched(recorded.consent.stored.reference, recorded.patient)
    return resource_response(recorded.consent.stored, ctx(request).base, status)
