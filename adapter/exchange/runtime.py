"""The exchange as one process runs it, built by the composition root (`adapter.composition`).

Everything the exchange can do is declared here, not registered on import: the named routes a flow may
use (`ROUTES`), the deliveries per message kind (`DELIVERIES`). `Exchange.from_settings` loads the peers
and flows; its `queue_changes` is the effect that turns every unit of work's writes into outbox rows
(`adapter.workflows.effects`), and `worker(store)` makes a delivery worker with these deliveries. With
no peers configured nothing is queued for peers and no worker thread is started.

Subscriptions (`adapter.exchange.subscriptions`) need no configured peer: their route `subscribers`
queues events for the senders' own endpoints (peers `subscription/{id}`), delivered with the `rest-hook`
delivery by `notifier(store)` (adapter.exchange.notifier), which also sends handshakes and heartbeats.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from adapter.config import Settings
from adapter.exchange import feedback, handover, subscriptions
from adapter.exchange.delivery import Deliveries, deliver_transaction
from adapter.exchange.notifier import SubscriptionNotifier
from adapter.exchange.outbox import Outbox, QueueChanges
from adapter.exchange.peers import Peer, load_peers
from adapter.exchange.routing import Flow, Routes, default_flows
from adapter.exchange.worker import Worker, WorkerSettings
from adapter.store.engine import Store

#: Routes a flow names with `route:` (mappings/exchange.yaml): they pick the peer per resource.
ROUTES: Routes = {feedback.ROUTE: feedback.route, subscriptions.ROUTE: subscriptions.route}
#: Routes that reach endpoints of their own (a Subscription's), so their flow runs without any peer.
PEERLESS_ROUTES = frozenset({subscriptions.ROUTE})
#: How a message of each kind reaches its peer. (`rest-hook`, the Subscriptions' kind, is delivered by
#: the notifier: its endpoints are the Subscriptions of the moment, not configured peers.)
DELIVERIES: Deliveries = {
    "transaction": deliver_transaction,
    feedback.KIND: feedback.deliver_task_update,
    handover.KIND: handover.deliver_transfer,  # a warm handover to the JGZ of her new region
}


@dataclass
class Exchange:
    settings: Settings
    peers: dict[str, Peer]
    flows: tuple[Flow, ...]
    routes: Routes = field(default_factory=lambda: dict(ROUTES))
    deliveries: Deliveries = field(default_factory=lambda: dict(DELIVERIES))

    @classmethod
    def from_settings(cls, settings: Settings, flows: tuple[Flow, ...] | None = None) -> Exchange:
        return cls(settings, load_peers(settings.peers_file), default_flows() if flows is None else flows)

    @property
    def active_flows(self) -> tuple[Flow, ...]:
        """The flows that can reach someone here: their fixed peer is configured, they route to a configured
        peer, or their route has endpoints of its own (Subscriptions)."""
        return tuple(
            f
            for f in self.flows
            if f.peer in self.peers or (f.route is not None and (self.peers or f.route in PEERLESS_ROUTES))
        )

    def queue_changes(self) -> QueueChanges:
        """The effect: a unit of work's writes, routed to the configured peers, become outbox rows."""
        return QueueChanges(self.active_flows, self.peers, self.routes)

    def worker(self, store: Store, **kwargs: Any) -> Worker:
        s = self.settings
        return Worker(
            store,
            self.peers,
            self.deliveries,
            settings=kwargs.pop("settings", None) or WorkerSettings.from_settings(s),
            organization=s.organization,
            observer=s.base_url,
            consents=kwargs.pop("consents", None) or self.consents(),
            **kwargs,
        )

    def notifier(self, store: Store, **kwargs: Any) -> SubscriptionNotifier:
        """Handshakes, heartbeats and event notifications to the Subscriptions' endpoints."""
        return SubscriptionNotifier(store, self.settings, **kwargs)

    def consents(self) -> dict[str, str]:
        """The recipient whose consent gates each flow that has one (checked again before every send)."""
        return {f.name: f.consent for f in self.flows if f.consent}

    def outbox(self, store: Store) -> Outbox:
        return Outbox(store)

    def peer(self, name: str) -> Peer | None:
        return self.peers.get(name)

    def senders(self) -> Mapping[str, Peer]:
        """The peers that are referral senders (they name an organisation)."""
        return {n: p for n, p in self.peers.items() if p.organizations}
