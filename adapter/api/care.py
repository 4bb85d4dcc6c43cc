"""Care plan interactions: recording home visits, and the plan's progress."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from adapter.api.context import accept_checked, ctx, read_fhir_body
from adapter.api.guard import access, patient_of, require, viewer, writer
from adapter.api.responses import FhirResponse, resource_response
from adapter.fhir.models import parameters
from adapter.fhir.outcome import FhirError
from adapter.security.scopes import CREATE, READ
from adapter.workflows.birth import BirthRecorded, record_child
from adapter.workflows.plans import apply_plan_definition, track_of_plan_definition
from adapter.workflows.visits import progress_of, progress_parameters, record_visit

router = APIRouter(dependencies=[Depends(accept_checked)])


@router.post("/Encounter")
async def create_visit(request: Request) -> FhirResponse:
    """A home visit done (status finished) or not done (cancelled), against its planned visit."""
    require(request, "Encounter", CREATE)
    require(request, "CarePlan", "u")
    encounter = await read_fhir_body(request)
    written, careplan = await run_in_threadpool(record_visit, writer(request), encounter)
    patient = patient_of(written.stored)
    access(request).touched(written.stored.reference, patient)
    if careplan is not None:
        access(request).touched(careplan.stored.reference, patient)
    return resource_response(written.stored, ctx(request).base, 201 if written.created else 200)


@router.post("/Patient")
async def create_child(request: Request) -> FhirResponse:
    """The child born: its Patient (linked to the mother) re-times the mother's care plan."""
    require(request, "Patient", CREATE)
    require(request, "CarePlan", "u")
    child = await read_fhir_body(request)
    recorded = await run_in_threadpool(record_child, writer(request), child)
    return birth_response(request, recorded)


def birth_response(request: Request, recorded: BirthRecorded) -> FhirResponse:
    """The stored birth report (201 when new); both it and the re-timed plan are audited as touched."""
    access(request).touched(recorded.report.stored.reference, recorded.mother)
    if recorded.careplan is not None:
        access(request).touched(recorded.careplan.stored.reference, recorded.mother)
    status = 201 if recorded.report.created else 200
    return resource_response(recorded.report.stored, ctx(request).base, status)


@router.get("/CarePlan/{careplan_id}/$progress")
def careplan_progress(careplan_id: str, request: Request) -> FhirResponse:
    """Done / planned / missed / upcoming per phase on `date` (default today), and whether on track."""
    require(request, "CarePlan", READ)
    raw = request.query_params.get("date")
    try:
        on = date.fromisoformat(raw) if raw else date.today()
    except ValueError:
        raise FhirError.one(
            400, f"date {raw!r} is not a FHIR date (YYYY-MM-DD)", "date", code="value"
        ) from None
    stored, progress = progress_of(ctx(request).store, viewer(request), careplan_id, on)
    access(request).touched(stored.reference, patient_of(stored))
    return FhirResponse(progress_parameters(progress))


def _subject(parameter: dict[str, Any]) -> str:
    """The subject an $apply parameter names: valueString, or valueReference.reference."""
    ref = parameter.get("valueReference")
    return str(parameter.get("valueString") or (ref.get("reference", "") if isinstance(ref, dict) else ""))


@router.post("/PlanDefinition/{plan_definition_id}/$apply")
async def apply(plan_definition_id: str, request: Request) -> FhirResponse:
    """The client's CarePlan of this track (R4 $apply; `subject` = Patient/[id], in Parameters or URL)."""
    require(request, "CarePlan", CREATE)
    track_of_plan_definition(plan_definition_id)  # 404 for an unknown PlanDefinition, before the body
    subjects = request.query_params.getlist("subject")
    if request.headers.get("content-length", "0") != "0":
        body = await read_fhir_body(request)
        if body.get("resourceType") != "Parameters":
            raise FhirError.one(400, "$apply takes a Parameters resource", "resourceType")
        subjects += [_subject(p) for p in parameters(body) if p["name"] == "subject"]
    if len(subjects) != 1:
        raise FhirError.one(
            400,
            "$apply needs exactly one subject: the client as Patient/[id]",
            "Parameters.parameter[subject]",
            code="required",
        )
    applied = await run_in_threadpool(
        apply_plan_definition, writer(request), viewer(request), plan_definition_id, subjects[0]
    )
    access(request).touched(applied.careplan.reference, patient_of(applied.careplan))
    return resource_response(applied.careplan, ctx(request).base, 201 if applied.created else 200)
