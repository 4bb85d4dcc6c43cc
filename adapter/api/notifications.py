"""`POST /Task`: a notified-pull notification (adapter/exchange/notified_pull.py) from a referral's sender.

Authenticated like every request; the caller sends referrals (role `obstetric`, its organisation the
sender; or a role that may send any referral, naming the sender as `requester`) and has a peer entry
with an endpoint (VOORZORG_PEERS_FILE, `organization` = the sender): the referral is read from there,
with that peer's token, and taken in like a referral transaction (the same contract, the same rights:
its requester must be the caller's organisation). Answered with our referral Task — 201 the first time,
200 when the sender notifies again (a resend: re-read and re-decided, progress kept) — whose status goes
back to the sender's workflow Task through the outbox. Every read at the sender is an AuditEvent of its
own (DCM 110107 Import, subtype transfer-in, the sender as source), besides the request's.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from adapter.api.context import accept_checked, ctx, read_fhir_body
from adapter.api.guard import access, require, writer
from adapter.api.responses import FhirResponse, resource_response
from adapter.exchange.client import FhirClient, PeerError
from adapter.exchange.notified_pull import Fetched, Notification, fetch_referral, read_notification
from adapter.exchange.peers import Peer, as_transfer, peer_of
from adapter.fhir.models import check_structure
from adapter.fhir.outcome import FhirError
from adapter.mapping.referral_in import read_referral
from adapter.security.audit import Access, build_event
from adapter.security.principal import Principal
from adapter.security.scopes import CREATE
from adapter.security.senders import Sender
from adapter.workflows.intake import IntakeResult, receive_referral

log = logging.getLogger("voorzorg.security")
router = APIRouter(dependencies=[Depends(accept_checked)])
_clients_lock = threading.Lock()


@router.post("/Task")
async def notification(request: Request) -> FhirResponse:
    who = require(request, "Task", CREATE)
    require(request, "ServiceRequest", CREATE)  # it ends in a referral, as POST [base] does
    Sender.of(who).sends()
    c = ctx(request)
    body = await read_fhir_body(request)
    check_structure(body)
    note = read_notification(body, c.settings.organization)
    sender = _sender(who, note)
    peer = peer_of(c.exchange.peers, sender)
    if peer is None:
        raise FhirError.one(
            422,
            f"No FHIR endpoint is configured for the sender {sender} (VOORZORG_PEERS_FILE): we cannot fetch "
            "from it; send the referral as a transaction Bundle (POST [base]) instead",
            "Task.requester",
            code="not-found",
        )
    fetched = await run_in_threadpool(_fetch, request, peer, note)
    result: IntakeResult | None = None
    try:
        referral = await run_in_threadpool(read_referral, fetched.bundle)
        result = await run_in_threadpool(
            receive_referral, writer(request), referral, Sender.of(who), c.deployment
        )
    finally:
        await run_in_threadpool(_audit_import, request, who, peer, fetched, result)
    assert result is not None
    record = access(request)
    for w in result.touched:
        record.touched(w.stored.reference, result.patient_reference)
    return resource_response(result.task.stored, c.base, 201 if result.task.created else 200)


def _sender(who: Principal, note: Notification) -> str:
    """The organisation that notifies: the caller's own, for a sender (it may not speak for another)."""
    if who.intake == "own":
        if note.requester is not None and note.requester != who.organization:
            raise FhirError.one(
                403,
                "A sender notifies in its own name only: Task.requester must be the token's organisation",
                "Task.requester",
                code="forbidden",
            )
        if who.organization:
            return who.organization
    elif who.intake == "any" and (note.requester or who.organization):
        return str(note.requester or who.organization)
    raise FhirError.one(403, "This client may not send referrals", code="forbidden")


def _fetch(request: Request, peer: Peer, note: Notification) -> Fetched:
    try:
        return fetch_referral(_client(request, peer), peer.base_url, note)
    except PeerError as e:
        status = 502 if e.transient else 422
        raise FhirError.one(
            status, f"The referral could not be read at the sender: {e}", "Task.focus", code="transient"
        ) from None


def _client(request: Request, peer: Peer) -> FhirClient:
    """One client per sender for this app (its token cached between notifications)."""
    state = request.app.state
    with _clients_lock:
        clients: dict[str, FhirClient] = getattr(state, "pull_clients", None) or {}
        state.pull_clients = clients
        if peer.name not in clients:
            clients[peer.name] = FhirClient.for_peer(peer)
        return clients[peer.name]


def _audit_import(
    request: Request, who: Principal, peer: Peer, fetched: Fetched, result: IntakeResult | None
) -> None:
    """The transfer from the sender, as NEN 7513 asks: what was read, from where, about whom."""
    a = Access(interaction="transfer-in", resource_type=None)
    if result is not None:
        a.touched(result.patient_reference, result.patient_reference)
        for w in result.writes:
            a.touched(w.stored.reference, None)
    else:  # not taken in: the sender's references are all there is
        for ref in fetched.read:
            a.touched(f"{peer.base_url}/{ref}", None)
    outcome = "success" if result is not None else "minor"
    text = f"notified pull from {peer.name}: {len(fetched.read)} resource(s) read" + (
        "" if result is not None else ", not taken in"
    )
    event: dict[str, Any] = build_event(
        a,
        principal=who,
        outcome=outcome,
        outcome_text=text,
        address=None,
        path=f"GET {peer.base_url}",
        observer=ctx(request).settings.base_url,
    )
    as_transfer(event, peer, "import")
    try:
        ctx(request).audit.append(event)
    except Exception as e:  # the request stands; the failure to log is itself logged (no client data)
        log.error("could not write the import audit record: %s", type(e).__name__)
