"""A sender's Subscriptions to its referral Tasks: made, changed, and asked for their status.

A Subscription belongs to the organisation of the token that made it (`resource_access`, as the
referrals it sent): only that organisation sees it, and it is only ever notified of Tasks of referrals
that organisation has a part in (adapter/exchange/subscriptions.py). Only roles that see their own
organisation's data (`data: organization` in mappings/access-policy.yaml: the referring practices) have
such Tasks; others are refused, rather than given a Subscription that would never say anything.

The server gives the status: a new or restarted Subscription is `requested` until its handshake is
answered (`active`); `error` after a refused handshake or a notification that could not be delivered.
The subscriber sets `requested` (start again) or `off` (stop).
"""

from __future__ import annotations

import uuid
from typing import Any

from adapter.exchange.endpoints import EndpointPolicy
from adapter.exchange.subscriptions import channel_of, problems, status_parameters
from adapter.fhir.models import check_structure
from adapter.fhir.outcome import FhirError, version_conflict
from adapter.security.access import Viewer
from adapter.security.principal import Principal
from adapter.store.engine import Store
from adapter.store.session import Session, VersionConflict, Write, new_id


def _checked(body: dict[str, Any], endpoints: EndpointPolicy) -> dict[str, Any]:
    check_structure(body)
    if body.get("resourceType") != "Subscription":
        raise FhirError.one(
            400, f"The body is a {body.get('resourceType')}, not a Subscription", "resourceType"
        )
    issues = problems(body, endpoints=endpoints)
    if issues:
        raise FhirError(422, issues)
    out = {k: v for k, v in body.items() if k not in ("meta", "error")}
    profiles = (body.get("meta") or {}).get("profile")
    if profiles:
        out["meta"] = {"profile": profiles}
    return out


def _owner(principal: Principal) -> str:
    if principal.data_scope != "organization" or not principal.organization:
        raise FhirError.one(
            403,
            "A Subscription notifies a referral sender of its own referrals' Tasks: it needs a token of a "
            f"sender's organisation (role with its own data), not role {principal.role!r}",
            code="forbidden",
        )
    return principal.organization


def create_subscription(
    store: Store, principal: Principal, body: dict[str, Any], *, endpoints: EndpointPolicy
) -> Write:
    """A new Subscription of the caller's organisation: `requested` until its handshake is answered."""
    owner = _owner(principal)
    sub = {**_checked(body, endpoints), "id": new_id(), "status": "requested"}

    def work(s: Session) -> Write:
        written = s.put(sub, method="POST")
        s.grant("Subscription", sub["id"], owner)
        s.subscriptions.start(sub["id"])
        return written

    return store.write(work)


def update_subscription(
    store: Store,
    viewer: Viewer,
    sub_id: str,
    body: dict[str, Any],
    if_match: int | None,
    *,
    endpoints: EndpointPolicy,
) -> Write:
    """Restart (`requested`), stop (`off`), or change the channel; the status stays the server's."""
    if body.get("id") != sub_id:
        raise FhirError.one(
            400, f"Resource id {body.get('id')!r} does not match the URL's {sub_id!r}", "Subscription.id"
        )
    sub = _checked(body, endpoints)

    def work(s: Session) -> Write:
        current = viewer.found(s, f"Subscription/{sub_id}")
        asked = sub["status"]
        if asked == "active":  # only the server makes it active (after a handshake)
            asked = "active" if current.content.get("status") == "active" else "requested"
        try:
            return s.put({**sub, "status": asked}, if_match=if_match)
        except VersionConflict as e:
            raise version_conflict("Subscription", if_match, e.current) from None

    return store.write(work)


def subscription_status(store: Store, viewer: Viewer, sub_id: str, base: str) -> dict[str, Any]:
    """`$status`: a searchset Bundle holding the Subscription's status (backport, R4 Parameters)."""
    with store.reading() as s:
        stored = viewer.found(s, f"Subscription/{sub_id}")
        events = s.subscriptions.events(sub_id) or 0
    status = status_parameters(base, channel_of(stored), "query-status", events)
    if stored.content.get("error"):
        status["parameter"].append(
            {"name": "error", "valueCodeableConcept": {"text": stored.content["error"]}}
        )
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": 1,
        "link": [{"relation": "self", "url": f"{base}/Subscription/{sub_id}/$status"}],
        "entry": [
            {
                "fullUrl": f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'{base}/Subscription/{sub_id}')}",
                "resource": status,
                "search": {"mode": "match"},
            }
        ],
    }
