"""The outbox, read-only, for whoever watches the exchange: `GET /admin/outbox` (with `status`, `peer`,
`client`, `_count`, `_offset`) and `GET /admin/outbox/{id}`.

It takes the pseudo resource type `OutboxMessage` in the token's scopes (`system/OutboxMessage.rs`) and
a role that lists it (`exchange-admin` in mappings/access-policy.yaml; no other role has it, `*` does
not imply it). It shows what goes where and how it fares — clients by reference, resources by type and
id, never their content — and, like every request, it is audited, naming the clients listed. Mending
(retry, purge) is done with `voorzorg-adapter outbox`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from adapter.api.context import ctx, page
from adapter.api.guard import access, require
from adapter.exchange.outbox import STATUSES, Message, Outbox
from adapter.fhir.outcome import FhirError
from adapter.security.scopes import READ, SEARCH

router = APIRouter()
RESOURCE = "OutboxMessage"


def _outbox(request: Request) -> Outbox:
    o: Outbox = ctx(request).adapter.outbox
    return o


def _seen(request: Request, messages: list[Message]) -> None:
    a = access(request)
    for m in messages:
        a.touched(m.client, m.patient)


@router.get("/admin/outbox")
async def list_messages(request: Request) -> JSONResponse:
    require(request, RESOURCE, SEARCH)
    q = request.query_params
    unknown = set(q) - {"status", "peer", "client", "_count", "_offset"}
    if unknown:
        raise FhirError.one(400, f"Unknown parameter(s): {', '.join(sorted(unknown))}", code="not-supported")
    status = q.get("status")
    if status is not None and status not in STATUSES:
        raise FhirError.one(400, f"status is one of {', '.join(STATUSES)}", "status", code="value")
    count, offset = page(request)
    outbox = _outbox(request)
    total, messages = await run_in_threadpool(
        outbox.list, status=status, peer=q.get("peer"), client=q.get("client"), limit=count, offset=offset
    )
    counts = await run_in_threadpool(outbox.counts)
    counts["held"] = await run_in_threadpool(outbox.held)  # pending, waiting behind a dead one
    circuits = await run_in_threadpool(outbox.circuits)  # the peers' circuit breakers (none: all closed)
    _seen(request, messages)
    body: dict[str, Any] = {"counts": counts, "total": total, "messages": [m.summary() for m in messages]}
    body["peers"] = [c.summary() for c in circuits.values()]
    return JSONResponse(body)


@router.get("/admin/outbox/{message_id}")
async def read_message(message_id: str, request: Request) -> JSONResponse:
    require(request, RESOURCE, READ)
    message = await run_in_threadpool(_outbox(request).get, int(message_id)) if message_id.isdigit() else None
    if message is None:
        raise FhirError.one(404, f"outbox message {message_id} is not known", code="not-found")
    _seen(request, [message])
    return JSONResponse(message.summary())
