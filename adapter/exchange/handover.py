"""Delivery of a warm handover (message kind `transfer`, queued by `adapter.workflows.transfer.send`):
the transfer message is posted to the peer's `$process-message` — the FHIR messaging operation — which
takes her in. The peer's handling is idempotent on the message's identifier, so the outbox's at-least-once
delivery leaves one client there; a refusal of the message itself (4xx) parks it as dead, for an operator.
"""

from __future__ import annotations

from typing import Any

from adapter.exchange.client import PeerError
from adapter.exchange.delivery import Delivered, DeliveryContext, request_id
from adapter.exchange.outbox import Message

KIND = "transfer"


def deliver_transfer(ctx: DeliveryContext, message: Message) -> Delivered:
    bundle: dict[str, Any] = message.payload["bundle"]
    r = ctx.client.request(
        "POST", "$process-message", body=bundle, headers={"X-Request-Id": request_id(message)}
    )
    try:
        answer = r.json()
    except ValueError:
        answer = None
    if not isinstance(answer, dict) or answer.get("resourceType") != "Bundle":
        raise PeerError(f"{ctx.peer}: $process-message answered no message Bundle", status=r.status_code)
    header = (answer.get("entry") or [{}])[0].get("resource", {})
    code = (header.get("response") or {}).get("code")
    if code != "ok":
        raise PeerError(
            f"{ctx.peer}: the handover was answered {code!r}",
            status=r.status_code,
            transient=code == "transient-error",
        )
    touched = [str(ref) for ref in message.payload.get("carried", [])]
    note = "taken in" if r.status_code == 201 else "taken in (before, or now)"
    return Delivered([], note, touched)
