"""The REST interactions on stored resources: read, vread, history, search, and update of Tasks."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from adapter.api.context import accept_checked, ctx, if_match_version, page, read_fhir_body
from adapter.api.guard import access, patient_of, require, viewer, writer
from adapter.api.responses import FhirResponse, history_bundle, resource_response
from adapter.api.search_results import search_bundle
from adapter.data import stored_types
from adapter.fhir.dates import date_range
from adapter.fhir.limits import refuse_unreadable
from adapter.fhir.models import check_structure
from adapter.fhir.outcome import FhirError
from adapter.fhir.search import parse_search
from adapter.fhir.validator import has_errors, validate
from adapter.security.scopes import READ, SEARCH, UPDATE
from adapter.store.session import Stored
from adapter.workflows import reading
from adapter.workflows.tasks import update_task

router = APIRouter(dependencies=[Depends(accept_checked)])

#: Resource types created with POST [type] (a home visit, a child born, a theme assessment or goal, a
#: sharing consent, a notified-pull notification Task, a sender's Subscription, a Group of clients to
#: export (adapter/api/export.py); the rest arrives through intake).
#: Resource types that may be updated with PUT (the closed-loop Task: cancel, start, complete; a
#: theme Goal's progress, adapter/api/themes.py; a sharing Consent withdrawn, adapter/api/sharing.py; a
#: Subscription restarted or stopped, adapter/api/subscriptions.py).
UPDATABLE = {"Task", "Goal", "Consent", "Subscription"}
CREATABLE = {"Encounter", "Patient", "Observation", "Goal", "Consent", "Task", "Subscription", "Group"}


def _known(resource_type: str) -> None:
    if resource_type not in stored_types():
        raise FhirError.one(404, f"This server holds no {resource_type} resources", code="not-supported")


@router.get("/{resource_type}")
def search(resource_type: str, request: Request) -> FhirResponse:
    return _search(resource_type, request, list(request.query_params.multi_items()))


@router.post("/{resource_type}/_search")
async def search_post(resource_type: str, request: Request) -> FhirResponse:
    content_type = request.headers.get("content-type", "").split(";")[0].strip()
    if content_type != "application/x-www-form-urlencoded":
        raise FhirError.one(415, "POST _search takes application/x-www-form-urlencoded", code="not-supported")
    form = await request.form()
    items = [(k, str(v)) for k, v in form.multi_items()] + list(request.query_params.multi_items())
    refuse_unreadable(items)
    return _search(resource_type, request, items)


def _search(resource_type: str, request: Request, items: list[tuple[str, str]]) -> FhirResponse:
    _known(resource_type)
    require(request, resource_type, SEARCH)
    c = ctx(request)
    lenient = "handling=lenient" in request.headers.get("prefer", "")
    q = parse_search(
        resource_type,
        items,
        default_count=c.settings.default_page_size,
        max_count=c.settings.max_page_size,
        lenient=lenient,
    )
    found = reading.search(c.store, viewer(request), resource_type, q)
    _touched(request, [*found.found, *found.included])
    url = f"{c.base}/{resource_type}"

    def page(offset: int) -> str:
        params = [(k, v) for k, v in q.used if k not in ("_count", "_offset")]
        return f"{url}?{urlencode([*params, ('_count', str(q.count)), ('_offset', str(offset))])}"

    return FhirResponse(search_bundle(found, q, c.base, page(q.offset), page))


@router.get("/{resource_type}/_history")
def type_history(resource_type: str, request: Request) -> FhirResponse:
    _known(resource_type)
    require(request, resource_type, READ)
    return _history(request, resource_type, None, f"{resource_type}/_history")


@router.get("/{resource_type}/{resource_id}")
def read(resource_type: str, resource_id: str, request: Request) -> FhirResponse:
    _known(resource_type)
    require(request, resource_type, READ)
    stored = reading.read(ctx(request).store, viewer(request), resource_type, resource_id)
    _touched(request, [stored])
    return resource_response(stored, ctx(request).base)


@router.get("/{resource_type}/{resource_id}/_history")
def instance_history(resource_type: str, resource_id: str, request: Request) -> FhirResponse:
    _known(resource_type)
    require(request, resource_type, READ)
    return _history(request, resource_type, resource_id, f"{resource_type}/{resource_id}/_history")


@router.get("/{resource_type}/{resource_id}/_history/{version_id}")
def vread(resource_type: str, resource_id: str, version_id: str, request: Request) -> FhirResponse:
    _known(resource_type)
    require(request, resource_type, READ)
    stored = reading.vread(ctx(request).store, viewer(request), resource_type, resource_id, version_id)
    _touched(request, [stored])
    return resource_response(stored, ctx(request).base)


@router.put("/Task/{task_id}")
async def update_task_route(task_id: str, request: Request) -> FhirResponse:
    """The closed loop moves on: the recipient accepts, starts, completes; the sender cancels (per role,
    mappings/task-transitions.yaml)."""
    require(request, "Task", UPDATE)
    body = await _update_body(request, "Task", task_id)
    expected = if_match_version(request)
    done = await run_in_threadpool(update_task, writer(request), viewer(request), task_id, body, expected)
    _touched(request, [done.task, *done.touched])
    return resource_response(done.task, ctx(request).base)


@router.put("/{resource_type}/{resource_id}")
async def update(resource_type: str, resource_id: str, request: Request) -> FhirResponse:
    """Every other type: referral data changes by sending the referral again (Goal and Consent have
    their own routes)."""
    _known(resource_type)
    refusal = FhirError.one(
        405,
        f"{resource_type} cannot be updated; referral data changes by sending the referral again",
        code="not-supported",
    )
    refusal.headers["Allow"] = "GET"
    raise refusal


async def _update_body(request: Request, resource_type: str, resource_id: str) -> dict[str, Any]:
    """The body of an update: that resource, with that id, valid against the profiles it claims."""
    body = await read_fhir_body(request)
    check_structure(body)
    if body.get("resourceType") != resource_type:
        raise FhirError.one(
            400, f"The body is a {body.get('resourceType')}, the URL says {resource_type}", "resourceType"
        )
    if body.get("id") != resource_id:
        raise FhirError.one(
            400,
            f"Resource id {body.get('id')!r} does not match the URL's {resource_id!r}",
            f"{resource_type}.id",
        )
    issues = validate(body)  # against the profiles it claims in meta.profile (ours)
    if has_errors(issues):
        raise FhirError(422, [i for i in issues if i.severity in ("error", "fatal")])
    return body


def _touched(request: Request, found: list[Stored]) -> None:
    a = access(request)
    for stored in found:
        a.touched(stored.reference, patient_of(stored))


def _history(request: Request, resource_type: str, resource_id: str | None, path: str) -> FhirResponse:
    c = ctx(request)
    q = request.query_params
    count, _ = page(request)
    since = q.get("_since")
    if since is not None:
        try:
            since = date_range(since)[0]
        except ValueError:
            raise FhirError.one(
                400, f"_since {since!r} is not a FHIR instant", "_since", code="value"
            ) from None
    found, current = reading.history(c.store, viewer(request), resource_type, resource_id, since, count)
    _touched(request, [current] if current else [])
    _touched(request, found.found)
    return FhirResponse(history_bundle(found.found, found.total, c.base, f"{c.base}/{path}"))
