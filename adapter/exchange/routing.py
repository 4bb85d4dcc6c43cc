"""Routing: which written resources go to which peer, as data (`mappings/exchange.yaml`).

`plan(session, flows, peers)` looks at what a unit of work wrote (`Session.written`) and answers the
messages to queue: one per (flow, client), holding a snapshot of each routed resource as written (and
the client's Patient when the flow says so). The outbox hook calls it inside the transaction.

A flow may also say
- `consent: <recipient>` — only while the client's sharing consents permit that recipient
  (`adapter.workflows.sharing.may_share_with`); `withdrawn(session, flows)` names the (flow, client)s
  whose pending messages must be dropped because a consent written in this unit of work now denies.
  Deletions go all the same (they take her data away); the worker checks her consent again before
  every request it sends;
- `supersede: true` — each message carries the full current state of its resources, so a newer message
  replaces older undelivered ones of the same flow, peer and client that it covers (`outbox.enqueue`);
- `route: <name>` — the peer is chosen per resource by a named route, not fixed: the obstetric feedback
  goes to whichever peer is the practice that sent the referral. The routes are listed in one place,
  `adapter.exchange.runtime.ROUTES`, which the composition root hands to `plan`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from adapter.data import exchange_flows
from adapter.exchange.peers import Peer
from adapter.fhir.subject import client_of
from adapter.store.session import Session, Stored
from adapter.workflows.sharing import may_share_with


@dataclass(frozen=True)
class Selector:
    """One kind of resource a flow carries."""

    type: str
    code_system: str | None = None
    profile: str | None = None

    def matches(self, content: dict[str, Any]) -> bool:
        if content.get("resourceType") != self.type:
            return False
        if self.profile and self.profile not in (content.get("meta") or {}).get("profile", []):
            return False
        return not self.code_system or self.code_system in _code_systems(content)


@dataclass(frozen=True)
class Flow:
    name: str
    peer: str
    kind: str
    resources: tuple[Selector, ...]
    when_client_has: str | None = None
    include_client: bool = True
    match: dict[str, str] = field(default_factory=dict)
    description: str = ""
    consent: str | None = None  # a voorzorg-sharing recipient whose consent gates the flow
    supersede: bool = False  # a newer message replaces the older undelivered ones it covers
    route: str | None = None  # a registered route picks the peer per resource (no fixed `peer`)

    def carries(self, content: dict[str, Any]) -> bool:
        return any(s.matches(content) for s in self.resources)

    def identifier_system(self, res_type: str) -> str | None:
        """The identifier system the peer matches this type on (conditional update)."""
        return self.match.get(res_type) or self.match.get("default")


@dataclass
class Planned:
    """A message to queue: `entries` are {"type", "id", "method" (PUT|DELETE), "resource"}."""

    flow: Flow
    client: str
    entries: list[dict[str, Any]]
    peer: str | None = None  # set by a route: the peer of this message (else the flow's)
    extra: dict[str, Any] = field(default_factory=dict)  # more payload, for the message's delivery

    @property
    def payload(self) -> dict[str, Any]:
        return {"entries": self.entries, "match": self.flow.match, **self.extra}

    @property
    def to(self) -> str:
        return self.peer or self.flow.peer


#: A route: (session, flow, the routed resources this unit of work wrote, the peers) -> messages.
Route = Callable[[Session, Flow, list[Stored], Mapping[str, Peer]], list[Planned]]
#: The routes by name (`route:` in a flow).
Routes = Mapping[str, Route]


def load_flows(data: dict[str, Any] | None = None) -> tuple[Flow, ...]:
    """The flows of `mappings/exchange.yaml` (or of `data`, for tests)."""
    raw = exchange_flows() if data is None else data
    flows = []
    for name, f in (raw.get("flows") or {}).items():
        flows.append(
            Flow(
                name=name,
                peer=str(f.get("peer", "")),
                kind=str(f.get("kind", "transaction")),
                resources=tuple(
                    Selector(s["type"], s.get("code_system"), s.get("profile")) for s in f["resources"]
                ),
                when_client_has=f.get("when_client_has"),
                include_client=bool(f.get("include_client", True)),
                match=dict(f.get("match") or {}),
                description=str(f.get("description", "")),
                consent=f.get("consent"),
                supersede=bool(f.get("supersede", False)),
                route=f.get("route"),
            )
        )
    return tuple(flows)


@cache
def default_flows() -> tuple[Flow, ...]:
    return load_flows()


def plan(session: Session, flows: Iterable[Flow], peers: Mapping[str, Peer], routes: Routes) -> list[Planned]:
    """The messages the writes of this unit of work call for (last write of each resource wins)."""
    latest = _latest(session)
    if not latest:
        return []
    out: list[Planned] = []
    for flow in flows:
        if flow.route is not None:
            out += _routed(session, flow, latest, peers, routes)
        elif flow.peer in peers:
            out += _to_fixed_peer(session, flow, latest)
    return out


def _latest(session: Session) -> list[Stored]:
    """What the unit of work wrote, each resource once, as it was last written, in order of that write."""
    latest: dict[tuple[str, str], Stored] = {}
    for w in session.written:
        key = (w.stored.res_type, w.stored.res_id)
        latest.pop(key, None)
        latest[key] = w.stored
    return list(latest.values())


def _routed(
    session: Session, flow: Flow, latest: list[Stored], peers: Mapping[str, Peer], routes: Routes
) -> list[Planned]:
    route = routes.get(flow.route or "")
    if route is None:
        raise LookupError(f"flow {flow.name}: no route {flow.route!r} is known")
    carried = [s for s in latest if flow.carries(s.content)]
    if not carried:
        return []  # the route knows whether it needs configured peers (subscriptions do not)
    planned = route(session, flow, carried, peers)
    return [p for p in planned if _consents(session, flow, p.client)]


def _to_fixed_peer(session: Session, flow: Flow, latest: list[Stored]) -> list[Planned]:
    by_client: dict[str, list[Stored]] = {}
    for stored in latest:
        client = client_of(stored.content)
        # a Patient travels only as the client herself: a referrer's copy of her stays here
        herself = stored.res_type != "Patient" or stored.reference == client
        if client and herself and flow.carries(stored.content):
            by_client.setdefault(client, []).append(stored)
    out = []
    for client, carried in by_client.items():
        if flow.when_client_has and not session.count(flow.when_client_has, patient=client):
            continue
        if _consents(session, flow, client):
            out.append(Planned(flow, client, _entries(session, flow, client, carried)))
        elif gone := [_entry(s) for s in carried if s.deleted]:  # removing her data is never withheld
            out.append(Planned(flow, client, gone))
    return out


def _entries(session: Session, flow: Flow, client: str, carried: list[Stored]) -> list[dict[str, Any]]:
    """The message's entries: the client first (when the flow includes her), then what was written."""
    entries = [_entry(s) for s in carried]
    if flow.include_client and not any(e["type"] == "Patient" for e in entries):
        patient = session.live(client)
        if patient is not None:
            entries.insert(0, _entry(patient))
    entries.sort(key=lambda e: e["type"] != "Patient")
    return entries


def _entry(s: Stored) -> dict[str, Any]:
    return {
        "type": s.res_type,
        "id": s.res_id,
        "method": "DELETE" if s.deleted else "PUT",
        "resource": s.content,
    }


def _consents(session: Session, flow: Flow, client: str) -> bool:
    if flow.consent is None:
        return True
    return may_share_with(session, client, flow.consent)


def withdrawn(session: Session, flows: Iterable[Flow]) -> list[tuple[Flow, str]]:
    """(flow, client) of consent-gated flows whose client's consent, written in this unit of work, now
    denies: what is queued for them and not yet sent must not go (`outbox.withdraw`)."""
    clients = list(
        dict.fromkeys(
            ref
            for w in session.written
            if w.stored.res_type == "Consent"
            and isinstance(ref := (w.stored.content.get("patient") or {}).get("reference"), str)
            and ref.startswith("Patient/")
        )
    )
    return [(f, c) for f in flows if f.consent for c in clients if not _consents(session, f, c)]


def _code_systems(content: dict[str, Any]) -> set[str]:
    systems: set[str] = set()
    for element in ("code", "category"):
        value = content.get(element)
        concepts = value if isinstance(value, list) else [value] if isinstance(value, dict) else []
        for concept in concepts:
            for coding in concept.get("coding", []) if isinstance(concept, dict) else []:
                if isinstance(coding, dict) and coding.get("system"):
                    systems.add(coding["system"])
    return systems
