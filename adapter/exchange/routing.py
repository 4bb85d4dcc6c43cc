"""Routing: which written resources go to which peer, as data (`mappings/exchange.yaml`).

`plan(session, flows, peers)` looks at what a unit of work wrote (`Session.written`) and answers the
messages to queue: one per (flow, client), holding a snapshot of each routed resource as written (and
the client's Patient when the flow says so). The outbox hook calls it inside the transaction.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from adapter.data import mapping_yaml
from adapter.store.repository import Alternative, Match, Session, Stored


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

    @property
    def payload(self) -> dict[str, Any]:
        return {"entries": self.entries, "match": self.flow.match}


def load_flows(data: dict[str, Any] | None = None) -> tuple[Flow, ...]:
    """The flows of `mappings/exchange.yaml` (or of `data`, for tests)."""
    raw = mapping_yaml("exchange.yaml") if data is None else data
    flows = []
    for name, f in (raw.get("flows") or {}).items():
        flows.append(
            Flow(
                name=name,
                peer=str(f["peer"]),
                kind=str(f.get("kind", "transaction")),
                resources=tuple(
                    Selector(s["type"], s.get("code_system"), s.get("profile")) for s in f["resources"]
                ),
                when_client_has=f.get("when_client_has"),
                include_client=bool(f.get("include_client", True)),
                match=dict(f.get("match") or {}),
                description=str(f.get("description", "")),
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


def plan(session: Session, flows: Iterable[Flow], peers: Collection[str]) -> list[Planned]:
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
