"""Obstetric feedback: the referral Task's status back to the practice that sent the referral.

The closed loop (HL7 BSeR, the Dutch notified pull): the sender set `requested`; we move the referral
Task — `accepted`, `rejected` or `on-hold` at intake (the reason in `statusReason`, the track in
`businessStatus`, the decision in `output`), `in-progress` when the nurse starts, `completed` when the
plan ends (`careplans complete-due`), or as a `PUT /Task/{id}` says. Every such write is routed (flow
`obstetric-feedback` in mappings/exchange.yaml, route `referral-sender`) to the peer that *is* the
sender — a peer whose `organization` is one the referral was granted to (its requester's AGB or URA,
`resource_access`) — as a message of kind `task-update`, delivered here:

- to the sender's own Task when we know it — it notified us of the referral (notified pull: our Task
  carries its URL as an identifier, system `urn:ietf:rfc:3986`), or an earlier update found or made it
  (the outbox remembers its id): read it, merge our part in, `PUT Task/{id}` with `If-Match` on the
  version read; a 412 (the sender changed it meanwhile) reads it again;
- else to the Task with the referral Task's identifier, searched at the sender (`Task?identifier=`),
  or made there once by a conditional create (`If-None-Exist` on that identifier; without one of the
  sender's own, the identifier carrying our id).

Only our part changes at the sender — status, statusReason, businessStatus, output, lastModified — and a
re-delivery that changes nothing writes nothing. References become logical ones the sender can resolve:
the client by BSN, the referral by its number, organisations by AGB/URA, the rest by our id. Each message
carries the whole Task, so a newer one supersedes older undelivered ones (a sender that was away gets
the latest state). A sender without a peer polls: `GET /Task?requester=…&_lastUpdated=gt…` with its own
token answers the Tasks of its own referrals only.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from adapter.exchange.bundles import DEFAULT_SYSTEM
from adapter.exchange.client import PeerError, PreconditionFailed, version_of
from adapter.exchange.delivery import MAX_REAPPLY, Delivered, DeliveryContext, request_id
from adapter.exchange.outbox import Message, PeerVersion
from adapter.exchange.peers import Peer, peer_of
from adapter.exchange.routing import Flow, Planned
from adapter.fhir.references import walk_references
from adapter.fhir.subject import client_of
from adapter.mapping.ids import is_referral_id, referral_task_id
from adapter.store.session import Session, Stored

ROUTE = "referral-sender"
KIND = "task-update"
#: The identifier system of the sender's own Task (its full URL), on our copy of a notified referral.
URI = "urn:ietf:rfc:3986"
#: What the recipient (we) owns on the referral Task; everything else stays as the sender has it.
OURS = ("status", "statusReason", "businessStatus", "output", "lastModified")
BSN_SYSTEM = "http://fhir.nl/fhir/NamingSystem/bsn"


def is_referral_task(stored: Stored) -> bool:
    """The referral's own Task: its id follows from the referral it focuses on (intake makes it so)."""
    ref = (stored.content.get("focus") or {}).get("reference", "")
    if stored.res_type != "Task" or not isinstance(ref, str) or not ref.startswith("ServiceRequest/"):
        return False
    referral_id = ref.split("/", 1)[1]
    return is_referral_id(referral_id) and stored.res_id == referral_task_id(referral_id)


def sender_task_identifier(base_url: str, task_id: str) -> dict[str, str]:
    """The identifier our copy of a notified referral's Task gets: the sender's Task, by its URL."""
    return {"system": URI, "value": f"{base_url.rstrip('/')}/Task/{task_id}"}


# --- routing: which sender, which Task there -------------------------------------------------------
def route(s: Session, flow: Flow, written: list[Stored], peers: Mapping[str, Peer]) -> list[Planned]:
    if not peers:
        return []  # no sender has an endpoint: they poll
    out: list[Planned] = []
    for stored in written:
        if stored.deleted or not is_referral_task(stored):
            continue
        client = client_of(stored.content)
        senders = {p.name: p for org in _granted(s, stored) if (p := peer_of(peers, org)) is not None}
        if client is None or not senders:
            continue  # no sender with an endpoint: it polls
        body = outgoing_task(s, stored.content)
        entry = {"type": "Task", "id": stored.res_id, "method": "PUT", "resource": body}
        for peer in senders.values():
            extra = {"target": _their_task(stored.content, peer), "identifier": _matching(stored.content)}
            out.append(Planned(flow, client, [entry], peer=peer.name, extra=extra))
    return out


def _granted(s: Session, stored: Stored) -> list[str]:
    return s.organizations_with_access(stored.res_type, stored.res_id)


def _their_task(task: dict[str, Any], peer: Peer) -> str | None:
    """The sender's own Task id, when our Task came from it (notified pull)."""
    prefix = f"{peer.base_url.rstrip('/')}/Task/"
    for i in task.get("identifier", []):
        value = str(i.get("value", ""))
        if i.get("system") == URI and value.startswith(prefix):
            return value[len(prefix) :].split("/", 1)[0] or None
    return None


def _matching(task: dict[str, Any]) -> list[str]:
    """The identifier the sender knows the Task by: its own, else the one carrying our id."""
    for i in task.get("identifier", []):
        if i.get("system") and i.get("value") and i["system"] not in (URI, DEFAULT_SYSTEM):
            return [str(i["system"]), str(i["value"])]
    return [DEFAULT_SYSTEM, str(task["id"])]


def outgoing_task(s: Session, task: dict[str, Any]) -> dict[str, Any]:
    """Our Task as the sender gets it: no id or store meta, our id as an identifier, logical references."""
    body = copy.deepcopy(task)
    body.pop("id", None)
    body.pop("meta", None)
    identifiers = body.setdefault("identifier", [])
    if not any(i.get("system") == DEFAULT_SYSTEM for i in identifiers):
        identifiers.append({"system": DEFAULT_SYSTEM, "value": task["id"]})
    _logical(s, body)
    return body


def _logical(s: Session, value: Any) -> None:
    """Every literal reference made logical: the type and an identifier the sender knows it by."""

    def logical(holder: dict[str, Any], ref: str, _path: str) -> None:
        if ref.count("/") == 1 and ":" not in ref and not ref.startswith("#"):
            res_type, res_id = ref.split("/")
            found = s.get(res_type, res_id)
            del holder["reference"]
            holder["type"] = res_type
            holder["identifier"] = _identifier_of(found.content if found else None, res_id)

    walk_references(value, logical, skip={"identifier"})


def _identifier_of(resource: dict[str, Any] | None, res_id: str) -> dict[str, str]:
    idents = [i for i in (resource or {}).get("identifier", []) if i.get("system") and i.get("value")]
    idents.sort(key=lambda i: i["system"] != BSN_SYSTEM)  # the client by her BSN
    if idents:
        return {"system": str(idents[0]["system"]), "value": str(idents[0]["value"])}
    return {"system": DEFAULT_SYSTEM, "value": res_id}


# --- delivery --------------------------------------------------------------------------------------
def merge(theirs: dict[str, Any], ours: dict[str, Any]) -> dict[str, Any]:
    """Their Task with our part: the elements the recipient owns, as ours has them (or without)."""
    out = copy.deepcopy(theirs)
    for element in OURS:
        if element in ours:
            out[element] = copy.deepcopy(ours[element])
        else:
            out.pop(element, None)
    return out


def deliver_task_update(ctx: DeliveryContext, message: Message) -> Delivered:
    entry = message.payload["entries"][0]
    ours: dict[str, Any] = entry["resource"]
    our_id = str(entry["id"])
    system, value = message.payload["identifier"]
    target: str | None = message.payload.get("target")
    if target is None:
        known = ctx.outbox.versions(ctx.peer, [("Task", our_id)]).get(("Task", our_id))
        target = known.peer_id if known else None
    headers = {"X-Request-Id": request_id(message)}
    note = None
    for _ in range(MAX_REAPPLY + 1):
        if target is None:
            found = _search(ctx, system, value)
            if found is None:
                return _create(ctx, message, ours, our_id, f"identifier={system}|{value}")
            theirs, version = found, version_of(None, found)
        else:
            theirs, version = ctx.client.read("Task", target)
        peer_id = str(theirs.get("id") or target)
        merged = merge(theirs, ours)
        if _same(merged, theirs):
            return Delivered(
                [PeerVersion("Task", our_id, peer_id, version)], note or "unchanged", [f"Task/{our_id}"]
            )
        put_headers = {**headers, **({"If-Match": f'W/"{version}"'} if version else {})}
        try:
            r = ctx.client.request("PUT", f"Task/{peer_id}", body=merged, headers=put_headers)
        except PreconditionFailed:
            note = "the Task had changed at the sender since it was read: read again and our part re-applied"
            target = peer_id
            continue
        answered = _json(r)
        new_version = version_of(r.headers.get("ETag"), answered)
        return Delivered([PeerVersion("Task", our_id, peer_id, new_version)], note, [f"Task/{our_id}"])
    raise PeerError(
        f"{ctx.peer}: the Task kept changing at the sender (412, {MAX_REAPPLY} re-reads)", status=412
    )


def _search(ctx: DeliveryContext, system: str, value: str) -> dict[str, Any] | None:
    bundle = ctx.client.search("Task", {"identifier": f"{system}|{value}"})
    found = [
        e["resource"]
        for e in bundle.get("entry", [])
        if isinstance(e.get("resource"), dict) and e["resource"].get("resourceType") == "Task"
    ]
    if len(found) > 1:
        raise PeerError(
            f"{ctx.peer}: {len(found)} Tasks carry the identifier {system}|{value}: which one is unclear",
            transient=False,
        )
    return found[0] if found else None


def _create(
    ctx: DeliveryContext, message: Message, ours: dict[str, Any], our_id: str, condition: str
) -> Delivered:
    r = ctx.client.request(
        "POST", "Task", body=ours, headers={"If-None-Exist": condition, "X-Request-Id": request_id(message)}
    )
    answered = _json(r)
    location = [p for p in str(r.headers.get("Location") or "").split("/") if p]
    peer_id = answered.get("id") or (
        location[location.index("Task") + 1] if "Task" in location[:-1] else None
    )
    if not peer_id:
        raise PeerError(f"{ctx.peer}: the Task was made, but the answer names no id", status=r.status_code)
    version = version_of(r.headers.get("ETag"), answered)
    return Delivered(
        [PeerVersion("Task", our_id, str(peer_id), version)], "made at the sender", [f"Task/{our_id}"]
    )


def _json(r: Any) -> dict[str, Any]:
    try:
        body = r.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return {k: v for k, v in a.items() if k != "meta"} == {k: v for k, v in b.items() if k != "meta"}
