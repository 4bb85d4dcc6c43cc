"""The nine themes: assessments (POST /Observation), goals (POST /Goal, PUT /Goal/{id}) and
Patient/{id}/$themes, the themes at a glance.

`POST /Observation` takes two kinds of Observation: a birth report (LOINC 93857-1, the delivery date:
it re-times the care plan, adapter/workflows/birth.py) and a theme assessment. Anything else is 422
naming Observation.code. Theme assessments and goals are the VoorZorg nurse's: only the organisation
running VoorZorg (a role whose data scope is "all") records them; reading them follows the access
policy like any other resource.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from adapter.api.care import birth_response
from adapter.api.context import accept_checked, ctx, if_match_version, read_fhir_body
from adapter.api.guard import access, patient_of, principal, require, viewer, writer
from adapter.api.responses import FhirResponse, resource_response
from adapter.fhir.models import check_structure
from adapter.fhir.outcome import FhirError
from adapter.fhir.search import refuse_unknown
from adapter.mapping.themes_out import themes_parameters
from adapter.security.scopes import CREATE, READ, SEARCH, UPDATE
from adapter.workflows.birth import is_delivery_date, record_delivery_date
from adapter.workflows.themes import GoalWritten, record_assessment, record_goal, theme_overview, update_goal

router = APIRouter(dependencies=[Depends(accept_checked)])


def _nurse(request: Request, resource_type: str, permission: str) -> None:
    """403 unless the caller may record theme data: the scopes, and the organisation running VoorZorg."""
    require(request, resource_type, permission)
    if principal(request).data_scope != "all":
        raise FhirError.one(
            403,
            f"Theme assessments and goals are recorded by the organisation running VoorZorg, "
            f"not by role {principal(request).role!r}",
            code="forbidden",
        )


@router.post("/Observation")
async def create_observation(request: Request) -> FhirResponse:
    """A birth report re-times the care plan; a theme assessment is stored (201, or 200 on a resend)."""
    who = require(request, "Observation", CREATE)
    if not (who.may("CarePlan", UPDATE) or who.data_scope == "all"):  # neither a report nor the nurse's
        raise FhirError.one(403, f"The role {who.role!r} records no Observations", code="forbidden")
    body = await read_fhir_body(request)
    check_structure(body)
    if body.get("resourceType") == "Observation" and is_delivery_date(body):
        require(request, "CarePlan", UPDATE)
        recorded = await run_in_threadpool(record_delivery_date, writer(request), body)
        return birth_response(request, recorded)
    _nurse(request, "Observation", CREATE)
    written = await run_in_threadpool(record_assessment, writer(request), body)
    access(request).touched(written.stored.reference, patient_of(written.stored))
    return resource_response(written.stored, ctx(request).base, 201 if written.created else 200)


@router.post("/Goal")
async def create_goal(request: Request) -> FhirResponse:
    """A theme goal, listed in the client's care plan at once (201, or 200 on a resend)."""
    _nurse(request, "Goal", CREATE)
    require(request, "CarePlan", UPDATE)
    body = await read_fhir_body(request)
    written = await run_in_threadpool(record_goal, writer(request), body)
    _touched(request, written)
    return resource_response(written.goal.stored, ctx(request).base, 201 if written.goal.created else 200)


@router.put("/Goal/{goal_id}")
async def put_goal(goal_id: str, request: Request) -> FhirResponse:
    """A goal's progress (achievementStatus) or status changed; `If-Match` guards a concurrent change."""
    _nurse(request, "Goal", UPDATE)
    body = await read_fhir_body(request)
    expected = if_match_version(request)
    written = await run_in_threadpool(update_goal, writer(request), goal_id, body, expected)
    _touched(request, written)
    return resource_response(written.goal.stored, ctx(request).base)


def _touched(request: Request, written: GoalWritten) -> None:
    access(request).touched(written.goal.stored.reference, patient_of(written.goal.stored))
    if written.careplan is not None:
        access(request).touched(written.careplan.stored.reference, written.client)


@router.get("/Patient/{patient_id}/$themes")
def patient_themes(patient_id: str, request: Request) -> FhirResponse:
    """Per theme: the latest assessment, the trend since the first (intake) one, and the goals."""
    require(request, "Patient", READ)
    require(request, "Observation", SEARCH)
    require(request, "Goal", SEARCH)
    refuse_unknown("Patient/$themes", set(request.query_params), {"_format"})
    view = theme_overview(ctx(request).store, viewer(request), patient_id)
    patient = view.read[0]
    for stored in view.read:
        access(request).touched(stored.reference, patient_of(stored))
    return FhirResponse(themes_parameters(patient.reference, view.statuses))
