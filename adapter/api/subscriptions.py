"""`POST /Subscription`, `PUT /Subscription/{id}`, `GET /Subscription/{id}/$status`: a referral sender's
Subscriptions to its referral Tasks (adapter/workflows/subscriptions.py). Reads and searches are the
generic ones (rest.py), within what the caller may see."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from adapter.api.context import accept_checked, ctx, if_match_version, read_fhir_body
from adapter.api.guard import access, principal, require, viewer, writer
from adapter.api.responses import FhirResponse, resource_response
from adapter.exchange.endpoints import EndpointPolicy
from adapter.security.scopes import CREATE, READ, UPDATE
from adapter.workflows.subscriptions import create_subscription, subscription_status, update_subscription

router = APIRouter(dependencies=[Depends(accept_checked)])


@router.post("/Subscription")
async def create(request: Request) -> FhirResponse:
    require(request, "Subscription", CREATE)
    body = await read_fhir_body(request)
    c = ctx(request)
    written = await run_in_threadpool(
        create_subscription,
        writer(request),
        principal(request),
        body,
        endpoints=EndpointPolicy.of(c.settings),
    )
    access(request).touched(written.stored.reference, None)
    return resource_response(written.stored, c.base, 201)


@router.put("/Subscription/{sub_id}")
async def update(sub_id: str, request: Request) -> FhirResponse:
    require(request, "Subscription", UPDATE)
    body = await read_fhir_body(request)
    c = ctx(request)
    written = await run_in_threadpool(
        update_subscription,
        writer(request),
        viewer(request),
        sub_id,
        body,
        if_match_version(request),
        endpoints=EndpointPolicy.of(c.settings),
    )
    access(request).touched(written.stored.reference, None)
    return resource_response(written.stored, c.base)


@router.get("/Subscription/{sub_id}/$status")
def status(sub_id: str, request: Request) -> FhirResponse:
    require(request, "Subscription", READ)
    access(request).touched(f"Subscription/{sub_id}", None)
    return FhirResponse(subscription_status(ctx(request).store, viewer(request), sub_id, ctx(request).base))
