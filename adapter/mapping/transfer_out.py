"""The warm handover as a FHIR message: a Bundle of type message whose MessageHeader (profile
voorzorg-transfer-header, event client-transfer) names the organisation she leaves and the one of her new
region, with her programme as focus, and the resources the new region continues with.

Each resource gets a stable `urn:uuid:` fullUrl (`adapter.exchange.bundles.full_url`); references between
them point at those; a reference to anything the message does not carry becomes a logical one (type and
the target's own business identifier, else our id), so nothing dangles at the receiver.
"""

from __future__ import annotations

import copy
from typing import Any

from adapter.config import CANONICAL_BASE
from adapter.exchange.bundles import DEFAULT_SYSTEM, full_url
from adapter.fhir.references import walk_references
from adapter.mapping.decision_out import coding
from adapter.store.session import Stored

TRANSFER_HEADER_PROFILE = f"{CANONICAL_BASE}/StructureDefinition/voorzorg-transfer-header"
TRANSFER_SYSTEM = f"{CANONICAL_BASE}/NamingSystem/voorzorg-transfer"
EVENT_SYSTEM = "voorzorg-message-event"
EVENT = "client-transfer"
_PREFERRED = (
    "http://fhir.nl/fhir/NamingSystem/bsn",
    "http://fhir.nl/fhir/NamingSystem/ura",
    "http://fhir.nl/fhir/NamingSystem/agb-z",
)


def transfer_message(
    *,
    message_id: str,
    timestamp: str,
    sender: tuple[str, str],
    source: str,
    destination: tuple[str, str],
    destination_endpoint: str,
    focus: Stored,
    resources: list[Stored],
    lookup: dict[str, dict[str, Any] | None],
) -> dict[str, Any]:
    """The message: header first, then each resource (each once), references resolved inside it.
    `lookup` gives the content of what is referenced and not carried (for its business identifier)."""
    carried = list({s.reference: s for s in [focus, *resources]}.values())
    targets = {s.reference: full_url(s.res_type, s.res_id) for s in carried}
    header = {
        "resourceType": "MessageHeader",
        "id": message_id,
        "meta": {"profile": [TRANSFER_HEADER_PROFILE]},
        "eventCoding": coding(EVENT_SYSTEM, EVENT),
        "destination": [
            {
                "endpoint": destination_endpoint,
                "receiver": {"type": "Organization", "identifier": _ident(destination)},
            }
        ],
        "sender": {"type": "Organization", "identifier": _ident(sender)},
        "source": {"endpoint": source},
        "focus": [{"reference": targets[focus.reference]}],
    }
    return {
        "resourceType": "Bundle",
        "identifier": {"system": TRANSFER_SYSTEM, "value": message_id},
        "type": "message",
        "timestamp": timestamp,
        "entry": [
            {"fullUrl": f"urn:uuid:{message_id}", "resource": header},
            *({"fullUrl": targets[s.reference], "resource": _carried(s, targets, lookup)} for s in carried),
        ],
    }


def _ident(org: tuple[str, str]) -> dict[str, str]:
    return {"system": org[0], "value": org[1]}


def _carried(
    stored: Stored, targets: dict[str, str], lookup: dict[str, dict[str, Any] | None]
) -> dict[str, Any]:
    body = copy.deepcopy(stored.content)
    meta = {k: v for k, v in (body.get("meta") or {}).items() if k not in ("versionId", "lastUpdated")}
    if meta:
        body["meta"] = meta
    else:
        body.pop("meta", None)
    body.pop("id", None)

    def resolve(holder: dict[str, Any], ref: str, _path: str) -> None:
        if ref in targets:
            holder["reference"] = targets[ref]
        elif ref.count("/") == 1 and ":" not in ref and not ref.startswith("#"):
            res_type, res_id = ref.split("/")
            del holder["reference"]
            holder.setdefault("type", res_type)
            holder.setdefault("identifier", _identifier_of(lookup.get(ref), res_id))

    walk_references(body, resolve, skip={"identifier"})
    return body


def _identifier_of(resource: dict[str, Any] | None, res_id: str) -> dict[str, str]:
    idents = [i for i in (resource or {}).get("identifier", []) if i.get("system") and i.get("value")]
    idents.sort(
        key=lambda i: (
            i["system"] not in _PREFERRED,
            _PREFERRED.index(i["system"]) if i["system"] in _PREFERRED else 0,
        )
    )
    if idents:
        return {"system": str(idents[0]["system"]), "value": str(idents[0]["value"])}
    return {"system": DEFAULT_SYSTEM, "value": res_id}
