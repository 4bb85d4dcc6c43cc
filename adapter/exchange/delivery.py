"""Deliveries: how a message of a given `kind` reaches its peer.

A delivery is a function `(context, message) -> Delivered` that raises `PeerError` when it fails. The
worker picks it by the message's kind from the deliveries it was given; the kinds are listed in one
place, `adapter.exchange.runtime.DELIVERIES`. A new kind is a function there:

    def deliver_notification(ctx: DeliveryContext, message: Message) -> Delivered:
        task = message.payload["task"]
        ctx.client.request("POST", "Task", body=task, headers={"If-None-Exist": ...})
        return Delivered([])

Built in: `transaction` — one FHIR transaction Bundle of idempotent entries (`adapter.exchange.bundles`);
a 412 (a resource changed at the peer since our last delivery) re-reads the current versions and
re-applies ours, a few times at most — if the worker still holds the message's lease: the client a
delivery gets is watched (`FhirClient.watched`), so every request, a re-read or a retry included, is
preceded by the worker's check of its lease and of her consent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from adapter.exchange.bundles import build_transaction, existing, versions_from_response
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
    return _Transaction(ctx, message).run()


class _Transaction:
    """One message as FHIR transactions: the Bundle, then what its answer asks for — a 412 re-reads and
    re-applies ours, an entry a conditional create found already there gets ours with `If-Match`.

    `If-Match` starts from the versions the previous delivery to this client left (`peer_resource`), read
    before the worker's first check of its lease: a worker that sends after its lease passed to another
    sends a Bundle the peer refuses (412) or keeps what it has (conditional create), and the re-read or
    follow-up that would apply it is stopped by that check (the client's watch) — a stale message never
    overwrites a newer one."""

    def __init__(self, ctx: DeliveryContext, message: Message) -> None:
        self.ctx = ctx
        self.message = message
        self.entries: list[dict[str, Any]] = message.payload["entries"]
        self.match: dict[str, str] = message.payload.get("match", {})
        self.refs = _references(self.entries)
        self.known = ctx.outbox.versions(ctx.peer, self.refs)
        self.versions: dict[tuple[str, str], PeerVersion] = {}
        self.note: str | None = None
        self.conflicts = 0

    def run(self) -> Delivered:
        touched = [f"{e['type']}/{e['id']}" for e in self.entries]
        todo = self.entries
        for _ in range(MAX_REAPPLY + 3):
            try:
                todo = self._round(todo)
            except PeerError as e:
                if e.status in (404, 410) and _only_deletions(self.entries):  # already gone: goal reached
                    return Delivered([], "already gone at the peer", touched)
                raise
            if not todo:
                return Delivered(list(self.versions.values()), self.note, touched)
        raise PeerError(f"{self.ctx.peer}: the message was still not applied after {MAX_REAPPLY + 3} rounds")

    def _round(self, todo: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Send `todo`; what is left to apply."""
        bundle = build_transaction(todo, self.match, self.known)
        try:
            response = self.ctx.client.transaction(bundle, {"X-Request-Id": request_id(self.message)})
        except PreconditionFailed as e:
            self._reread(e)
            return todo
        if response.get("resourceType") != "Bundle":
            raise PeerError("the peer answered the transaction with something other than a Bundle")
        self._learn(versions_from_response(todo, response))
        left = existing(bundle, todo, response)
        if left:
            self.note = "already at the peer (conditional create): ours applied over it"
        return left

    def _reread(self, e: PreconditionFailed) -> None:
        self.conflicts += 1
        if self.conflicts > MAX_REAPPLY:
            raise PeerError(f"{e} (still after {MAX_REAPPLY} re-reads)", status=412) from None
        stale = [self.known[k] for k in self.refs if k in self.known and self.known[k].version_id]
        self._learn(_reread(self.ctx.client, stale))
        self.note = "a resource had changed at the peer since our last delivery: ours was re-applied"

    def _learn(self, versions: list[PeerVersion]) -> None:
        for v in versions:
            self.versions[(v.res_type, v.res_id)] = v
            self.known[(v.res_type, v.res_id)] = v
        self.known = {k: v for k, v in self.known.items() if v.peer_id}  # what the peer no longer has


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
