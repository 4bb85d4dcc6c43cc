"""`$validate` (type and instance level, with `profile`): the adapter's own validator, on request."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from adapter.api.context import accept_checked, ctx, read_fhir_body
from adapter.api.guard import require, viewer
from adapter.api.responses import FhirResponse
from adapter.fhir.models import check_structure, parameters
from adapter.fhir.outcome import FhirError, Issue, information, operation_outcome
from adapter.fhir.validator import can_validate, validate
from adapter.security.scopes import READ

router = APIRouter(dependencies=[Depends(accept_checked)])


def _answer(resource: dict[str, Any], profile: str | None) -> FhirResponse:
    if profile is not None and not can_validate(profile):
        raise FhirError.one(
            400,
            f"Profile {profile!r} is neither one of this server's profiles nor an R4 core definition",
            "profile",
            code="not-supported",
        )
    try:
        check_structure(resource)
    except FhirError as e:
        return FhirResponse(operation_outcome(e.issues))
    issues: list[Issue] = validate(resource, profile)
    return FhirResponse(operation_outcome(issues) if issues else information("No issues found"))


@router.post("/{resource_type}/$validate")
async def validate_type(resource_type: str, request: Request) -> FhirResponse:
    """Body: the resource, or Parameters with `resource` (and `profile`); `?profile=` also works."""
    body = await read_fhir_body(request)
    profile = request.query_params.get("profile")
    if body.get("resourceType") == "Parameters":
        params = {p["name"]: p for p in parameters(body)}
        named = params.get("profile", {}).get("valueUri") or params.get("profile", {}).get("valueCanonical")
        profile = named if isinstance(named, str) else profile
        inner = params.get("resource", {}).get("resource")
        body = inner if isinstance(inner, dict) else {}
    if body.get("resourceType") != resource_type:
        raise FhirError.one(400, f"The resource to validate must be a {resource_type}", "resourceType")
    return await run_in_threadpool(_answer, body, profile)


@router.get("/{resource_type}/{resource_id}/$validate")
def validate_instance(resource_type: str, resource_id: str, request: Request) -> FhirResponse:
    require(request, resource_type, READ)
    with ctx(request).store.reading() as s:
        stored = viewer(request).found(s, f"{resource_type}/{resource_id}")
    return _answer(stored.content, request.query_params.get("profile"))
