"""Routing: which written resources go to which peer, as data (`mappings/exchange.yaml`).

`plan(session, flows, peers)` looks at what a unit of work wrote (`Session.written`) and answers the
messages to queue: one per (flow, client), holding a snapshot of each routed resource as written (and
the client's Patient when the flow says so). The outbox hook calls it inside the transaction.

A flow may also say
- `consent: <recipient>` — only while the client's sharing consents permit that recipient
  (`adapter.workflows.sharing.may_share_with`); `withdrawn(session, flows)` names the (flow, client)s
  whose pending messages must be dropped because a consent written in this unit of work now denies;
- `supersede: true` — each message carries the full current state of its resources, so a newer message
  replaces older undelivered ones of the same flow, peer and client that it covers (`outbox.enqueue`);
- `route: <name>` — the peer is chosen per resource by a registered route (`register_route`), not fixed:
  the obstetric feedback goes to whichever peer is the practice that sent the referral.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from adapter.data import mapping_yaml
from adapter.exchange.peers import Peer
from adapter.store.repository import Alternative, Match, Session, Stored
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
_ROUTES: dict[str, Route] = {}


def register_route(name: str, route: Route) -> None:
    _ROUTES[name] = route


def load_flows(data: dict[str, Any] | None = None) -> tuple[Flow, ...]:
    """The flows of `mappings/exchange.yaml` (or of `data`, for tests)."""
    raw = mapping_yaml("exchange.yaml") if data is None else data
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


def client_of(content: dict[str, Any]) -> str | None:
    """The client (Patient) a resource is about: itself, or its subject / patient / for."""
    if content.get("resourceType") == "Patient":
        return f"Patient/{content['id']}"
    for element in ("subject", "patient", "for"):
        value = content.get(element)
        ref = value.get("reference") if isinstance(value, dict) else None
        if isinstance(ref, str) and ref.startswith("Patient/"):
            return ref
    return None


def plan(
    session: Session, flows: Iterable[Flow], peers: Collection[str] | Mapping[str, Peer]
) -> list[Planned]:
    """The messages the writes of this unit of work call for (last write of each resource wins)."""
    latest: dict[tuple[str, str], Stored] = {}
    for w in session.written:
        key = (w.stored.res_type, w.stored.res_id)
        latest.pop(key, None)
        latest[key] = w.stored
    if not latest:
        return []
    out: list[Planned] = []
    for flow in flows:
        if flow.route is not None:
            configs = peers if isinstance(peers, Mapping) else {}
            routed = [s for s in latest.values() if flow.carries(s.content)]
            if flow.route not in _ROUTES:
                raise LookupError(f"flow {flow.name}: no route {flow.route!r} is registered")
            planned = _ROUTES[flow.route](session, flow, routed, configs) if routed and configs else []
            out += [p for p in planned if _consents(session, flow, p.client)]
            continue
        if flow.peer not in peers:
            continue
        by_client: dict[str, list[Stored]] = {}
        for stored in latest.values():
            client = client_of(stored.content)
            if client and flow.carries(stored.content):
                by_client.setdefault(client, []).append(stored)
        for client, stored_list in by_client.items():
            if flow.when_client_has and not _client_has(session, flow.when_client_has, client):
                continue
            if not _consents(session, flow, client):
                continue
            entries = [_entry(s) for s in stored_list]
            if flow.include_client and not any(e["type"] == "Patient" for e in entries):
                patient = session.get("Patient", client.split("/", 1)[1])
                if patient is not None and not patient.deleted:
                    entries.insert(0, _entry(patient))
            entries.sort(key=lambda e: e["type"] != "Patient")  # the client first
            out.append(Planned(flow, client, entries))
    return out


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


def _client_has(session: Session, res_type: str, client: str) -> bool:
    total, _ = session.search(res_type, [Match("patient", (Alternative(value=client),))], 1, 0)
    return total > 0


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
