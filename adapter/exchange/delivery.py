"""Deliveries: how a message of a given `kind` reaches its peer.

A delivery is a function `(context, message) -> Delivered` that raises `PeerError` when it fails. The
worker picks it by the message's kind from the deliveries it was given; the kinds are listed in one
place, `adapter.exchange.runtime.DELIVERIES`. A new kind is a function there:

    def deliver_notification(ctx: DeliveryContext, message: Message) -> Delivered:
        task = message.payload["task"]
        ctx.client.request("POST", "Task", body=task, headers={"If-None-Exist": ...})
        return Delivered([])

Built in: `transaction` — one FHIR transaction Bundle of idempotent entries (`adapter.exchange.bundles`);
a 412 (someone changed a resource at the peer since we last wrote it) re-reads the current versions
and re-applies ours, a few times at most.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from adapter.exchange.bundles import build_transaction, versions_from_response
from adapter.exchange.client import FhirClient, PeerError, PreconditionFailed
from adapter.exchange.outbox import Message, Outbox, PeerVersion
from adapter.fhir.references import references_in

#: How often one delivery re-reads and re-applies after a 412 before it gives up (transiently).
MAX_REAPPLY = 3


@dataclass
class DeliveryContext:
    client: FhirClient
    peer: str
    outbox: Outbox


@dataclass
class Delivered:
    versions: list[PeerVersion]
    note: str | None = None  # e.g. that a change at the peer was overwritten
    touched: list[str] = field(default_factory=list)  # "Type/id" sent, for the audit record


Delivery = Callable[[DeliveryContext, Message], Delivered]
#: The deliveries by message kind.
Deliveries = Mapping[str, Delivery]


def delivery_for(deliveries: Deliveries, kind: str) -> Delivery:
    try:
        return deliveries[kind]
    except KeyError:
        raise PeerError(f"no delivery is known for messages of kind {kind!r}", transient=False) from None


def deliver_transaction(ctx: DeliveryContext, message: Message) -> Delivered:
    entries: list[dict[str, Any]] = message.payload["entries"]
    match: dict[str, str] = message.payload.get("match", {})
    refs = _references(entries)
    known = ctx.outbox.versions(ctx.peer, refs)
    refreshed: list[PeerVersion] = []
    note = None
    for attempt in range(MAX_REAPPLY + 1):
        bundle = build_transaction(entries, match, known)
        try:
            response = ctx.client.transaction(bundle, {"X-Request-Id": request_id(message)})
        except PreconditionFailed as e:
            if attempt == MAX_REAPPLY:
                raise PeerError(f"{e} (still after {MAX_REAPPLY} re-reads)", status=412) from None
            fresh = _reread(ctx.client, [known[k] for k in refs if k in known and known[k].version_id])
            refreshed += fresh
            known = {**known, **{(v.res_type, v.res_id): v for v in fresh}}
            known = {k: v for k, v in known.items() if v.peer_id}
            note = "a resource had changed at the peer since our last delivery: ours was re-applied"
            continue
        except PeerError as e:
            if e.status in (404, 410) and _only_deletions(entries):  # already gone: the goal is reached
                return Delivered([], "already gone at the peer", [f"{x['type']}/{x['id']}" for x in entries])
            raise
        if response.get("resourceType") != "Bundle":
            raise PeerError("the peer answered the transaction with something other than a Bundle")
        return Delivered(
            refreshed + versions_from_response(entries, response),
            note,
            [f"{e['type']}/{e['id']}" for e in entries],
        )
    raise AssertionError("unreachable")  # pragma: no cover


def _only_deletions(entries: list[dict[str, Any]]) -> bool:
    return bool(entries) and all(e.get("method", "PUT") == "DELETE" for e in entries)


def request_id(message: Message) -> str:
    """`X-Request-Id` of a delivery: the message and the try, for tracing at the peer."""
    return f"voorzorg-outbox-{message.id}-{message.attempts}"


def _references(entries: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """Every resource an entry is or points at (so references can use the peer's ids)."""
    out: list[tuple[str, str]] = []
    for e in entries:
        out.append((e["type"], e["id"]))
        out += [tuple(r.split("/", 1)) for r in _literal_refs(e.get("resource", {}))]  # type: ignore[misc]
    return list(dict.fromkeys(out))


def _literal_refs(value: Any) -> list[str]:
    return [r for r in references_in(value) if r.count("/") == 1 and ":" not in r]


def _reread(client: FhirClient, stale: list[PeerVersion]) -> list[PeerVersion]:
    """The current versions of what we had sent before; gone ones come back with an empty id."""
    out = []
    for v in stale:
        try:
            body, version = client.read(v.res_type, v.peer_id)
        except PeerError as e:
            if e.status in (404, 410):
                out.append(PeerVersion(v.res_type, v.res_id, "", None))
                continue
            raise
        out.append(PeerVersion(v.res_type, v.res_id, str(body.get("id") or v.peer_id), version))
    return out
