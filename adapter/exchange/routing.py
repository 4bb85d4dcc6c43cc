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
  `adapter.exchange.runtime.ROUTES`, which the composition root hands to `plan`;
- `ordered_by: <element>` — the flow carries resources about no client (a MeasureReport for the regional
  registration): a message per value of that element (the report's Measure, `Measure/voorzorg-uptake`),
  which orders its messages where a client orders those of the other flows. Such a flow carries only
  resources about no client, and the other flows only resources about a client.
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
    #: an extension the resource must carry, as (element, value) pairs: (("url", …), ("valueCode", …))
    extension: tuple[tuple[str, Any], ...] = ()

    def matches(self, content: dict[str, Any]) -> bool:
        if content.get("resourceType") != self.type:
            return False
        if self.profile and self.profile not in (content.get("meta") or {}).get("profile", []):
            return False
        if self.extension and not any(_has(e, self.extension) for e in content.get("extension") or []):
            return False
        return not self.code_system or self.code_system in _code_systems(content)


def _has(extension: Any, wanted: tuple[tuple[str, Any], ...]) -> bool:
    return isinstance(extension, dict) and all(extension.get(k) == v for k, v in wanted)


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
    ordered_by: str | None = None  # resources about no client: this element orders them (not a client)

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
    return tuple(_flow(name, f) for name, f in (raw.get("flows") or {}).items())


def _flow(name: str, f: dict[str, Any]) -> Flow:
    ordered_by = f.get("ordered_by")
    flow = Flow(
        name=name,
        peer=str(f.get("peer", "")),
        kind=str(f.get("kind", "transaction")),
        resources=tuple(_selector(s) for s in f["resources"]),
        when_client_has=f.get("when_client_has"),
        include_client=bool(f.get("include_client", ordered_by is None)),
        match=dict(f.get("match") or {}),
        description=str(f.get("description", "")),
        consent=f.get("consent"),
        supersede=bool(f.get("supersede", False)),
        route=f.get("route"),
        ordered_by=ordered_by,
    )
    about_her = [k for k in ("when_client_has", "include_client", "consent", "route") if getattr(flow, k)]
    if ordered_by is not None and about_her:
        raise ValueError(f"flow {name}: ordered_by is for resources about no client, not with {about_her}")
    return flow


def _selector(s: dict[str, Any]) -> Selector:
    extension = tuple(sorted((s.get("extension") or {}).items()))
    return Selector(s["type"], s.get("code_system"), s.get("profile"), extension)


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
    by_client: dict[str, list[Stored]] = {}  # by the ordering key: the client, or the flow's `ordered_by`
    for stored in latest:
        key = _key(flow, stored)
        if key and flow.carries(stored.content):
            by_client.setdefault(key, []).append(stored)
    out = []
    for client, carried in by_client.items():
        if flow.when_client_has and not session.count(flow.when_client_has, patient=client):
            continue
        if _consents(session, flow, client):
            out.append(Planned(flow, client, _entries(session, flow, client, carried)))
        elif gone := [_entry(s) for s in carried if s.deleted]:  # removing her data is never withheld
            out.append(Planned(flow, client, gone))
    return out


def _key(flow: Flow, stored: Stored) -> str | None:
    """What orders the resource's messages in this flow: its client; in a flow `ordered_by` an element,
    that element of a resource about no client. None: the flow does not carry it."""
    client = client_of(stored.content)
    if flow.ordered_by is not None:
        return None if client else _ordering_key(stored.content.get(flow.ordered_by))
    # a Patient travels only as the client herself: a referrer's copy of her stays here
    herself = stored.res_type != "Patient" or stored.reference == client
    return client if herself else None


def _ordering_key(value: Any) -> str | None:
    """`Type/id` of a reference or canonical (`https://fhir.voorzorg.nl/Measure/voorzorg-uptake|1` →
    `Measure/voorzorg-uptake`)."""
    ref = value.get("reference") if isinstance(value, dict) else value
    if not isinstance(ref, str) or not ref.strip("/"):
        return None
    return "/".join(ref.split("|", 1)[0].rstrip("/").split("/")[-2:])


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
