"""Idempotent FHIR transaction Bundles from outbox entries, and what the peer's answer tells us.

Each entry is written so that sending the Bundle once or ten times leaves one copy at the peer, and so
that a stale Bundle (one a worker sends after a newer message was delivered) changes nothing there:
- a resource the peer already has (we remember its id and versionId): `PUT Type/{peer id}` with
  `If-Match` on the version the previous delivery left — a 412 means it changed there since (a newer
  delivery of ours, or someone at the peer);
- one it may not have: a conditional create on a business identifier, `POST Type` with `If-None-Exist:
  identifier=sys|value` (the client on her BSN; everything else on the identifier carrying our own id,
  which every outgoing resource gets) — created when absent; when present the peer answers 200 and keeps
  what it has (`existing` names those entries: the delivery then applies ours with `If-Match` on that
  version, if it still holds the message's lease);
- a deletion: `DELETE Type/{peer id}`, or conditionally on the identifier.

References between entries of the Bundle become their `urn:uuid:` fullUrls; references to resources
the peer has become `Type/{peer id}`; references to anything else (the referral, the decision) become
logical references (type + identifier), which never dangle.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Mapping
from typing import Any

from adapter.exchange.client import version_of
from adapter.exchange.outbox import PeerVersion
from adapter.fhir.references import walk_references

#: Namespace of the fullUrls (urn:uuid) of outgoing entries: stable per resource.
_NS = uuid.UUID("6f1c2b1e-0d7a-4f54-9a39-6b0d2f7c8e11")
DEFAULT_SYSTEM = "https://fhir.voorzorg.nl/NamingSystem/adapter-resource-id"


def full_url(res_type: str, res_id: str) -> str:
    return f"urn:uuid:{uuid.uuid5(_NS, f'{res_type}/{res_id}')}"


def build_transaction(
    entries: list[dict[str, Any]],
    match: Mapping[str, str],
    known: Mapping[tuple[str, str], PeerVersion],
) -> dict[str, Any]:
    """The transaction Bundle for a message's entries, given the peer versions we know."""
    default = match.get("default", DEFAULT_SYSTEM)
    targets: dict[str, str] = {}
    for e in entries:
        key = (e["type"], e["id"])
        if key in known:
            targets[f"{e['type']}/{e['id']}"] = f"{e['type']}/{known[key].peer_id}"
        elif e.get("method", "PUT") != "DELETE":
            targets[f"{e['type']}/{e['id']}"] = full_url(e["type"], e["id"])
    for v in known.values():
        targets.setdefault(f"{v.res_type}/{v.res_id}", f"{v.res_type}/{v.peer_id}")

    out: list[dict[str, Any]] = []
    for e in entries:
        res_type, res_id, method = e["type"], e["id"], e.get("method", "PUT")
        peer = known.get((res_type, res_id))
        system = match.get(res_type, default)
        resource = outgoing(e["resource"], default, targets)
        ident = _identifier(resource, system) or (default, res_id)
        condition = f"{res_type}?identifier={ident[0]}|{ident[1]}"
        if method == "DELETE":
            url = f"{res_type}/{peer.peer_id}" if peer else condition
            out.append({"request": {"method": "DELETE", "url": url}})
            continue
        entry: dict[str, Any] = {"fullUrl": full_url(res_type, res_id), "resource": resource}
        if peer is not None:
            resource["id"] = peer.peer_id
            entry["fullUrl"] = full_url(res_type, res_id)
            request: dict[str, Any] = {"method": "PUT", "url": f"{res_type}/{peer.peer_id}"}
            if peer.version_id:
                request["ifMatch"] = f'W/"{peer.version_id}"'
        else:
            resource.pop("id", None)
            request = {"method": "POST", "url": res_type, "ifNoneExist": condition.split("?", 1)[1]}
        entry["request"] = request
        out.append(entry)
    return {"resourceType": "Bundle", "type": "transaction", "entry": out}


def outgoing(resource: dict[str, Any], default_system: str, targets: Mapping[str, str]) -> dict[str, Any]:
    """Our resource as the peer gets it: our id as an identifier, no store meta, references resolved."""
    body = copy.deepcopy(resource)
    meta = {k: v for k, v in (body.get("meta") or {}).items() if k not in ("versionId", "lastUpdated")}
    if meta:
        body["meta"] = meta
    else:
        body.pop("meta", None)
    identifiers = body.setdefault("identifier", [])
    if not any(i.get("system") == default_system for i in identifiers if isinstance(i, dict)):
        identifiers.append({"system": default_system, "value": resource["id"]})
    _references(body, default_system, targets)
    return body


def _references(value: Any, default_system: str, targets: Mapping[str, str]) -> None:
    """References to what the peer holds point at its copy; the rest become logical ones (never dangle)."""

    def resolve(holder: dict[str, Any], ref: str, _path: str) -> None:
        if "/" not in ref or ref.startswith(("urn:", "#", "http:", "https:")):
            return
        if ref in targets:
            holder["reference"] = targets[ref]
            return
        res_type, _, res_id = ref.partition("/")
        del holder["reference"]
        holder.setdefault("type", res_type)
        holder.setdefault("identifier", {"system": default_system, "value": res_id})

    walk_references(value, resolve)


def _identifier(resource: dict[str, Any], system: str) -> tuple[str, str] | None:
    for i in resource.get("identifier", []):
        if isinstance(i, dict) and i.get("system") == system and i.get("value"):
            return system, str(i["value"])
    return None


def versions_from_response(entries: list[dict[str, Any]], response: dict[str, Any]) -> list[PeerVersion]:
    """The peer's id and version of each entry, from a transaction-response (same order as sent)."""
    out: list[PeerVersion] = []
    answers = response.get("entry", [])
    for e, answer in zip(entries, answers, strict=False):
        if e.get("method", "PUT") == "DELETE":
            out.append(PeerVersion(e["type"], e["id"], "", None))  # forget it
            continue
        resp = answer.get("response") or {}
        resource = answer.get("resource") or {}
        location = str(resp.get("location") or "")
        parts = [p for p in location.split("/") if p]
        peer_id = resource.get("id")
        version = version_of(resp.get("etag"), resource)
        if e["type"] in parts:
            i = parts.index(e["type"])
            if len(parts) > i + 1:
                peer_id = peer_id or parts[i + 1]
            if version is None and len(parts) > i + 3 and parts[i + 2] == "_history":
                version = parts[i + 3]
        if peer_id:
            out.append(PeerVersion(e["type"], e["id"], str(peer_id), version))
    return out


def existing(
    bundle: dict[str, Any], entries: list[dict[str, Any]], response: dict[str, Any]
) -> list[dict[str, Any]]:
    """The entries a conditional create found already at the peer (200, not 201) holding something
    other than ours: what the delivery must still apply (same order as sent)."""
    answered = list(zip(bundle.get("entry", []), response.get("entry", []), strict=False))
    located = {str(sent.get("fullUrl")): _location(answer) for sent, answer in answered}
    out = []
    for e, (sent, answer) in zip(entries, answered, strict=False):
        request = sent.get("request") or {}
        status = str((answer.get("response") or {}).get("status", "")).split(" ")[0]
        if request.get("method") != "POST" or not request.get("ifNoneExist") or status != "200":
            continue
        theirs = answer.get("resource")
        if not isinstance(theirs, dict) or _content(theirs) != _content(sent.get("resource") or {}, located):
            out.append(e)
    return out


def _location(answer: dict[str, Any]) -> str:
    """`Type/id` of an answered entry (its location without the version)."""
    return str((answer.get("response") or {}).get("location") or "").split("/_history", 1)[0]


def _content(resource: dict[str, Any], located: Mapping[str, str] | None = None) -> dict[str, Any]:
    """What a resource says, beside its id and store meta; with `located`, the Bundle's fullUrls as the
    peer resolved them."""
    body = copy.deepcopy({k: v for k, v in resource.items() if k not in ("id", "meta", "text")})
    if located:

        def resolve(holder: dict[str, Any], ref: str, _path: str) -> None:
            if located.get(ref):
                holder["reference"] = located[ref]

        walk_references(body, resolve)
    return body
