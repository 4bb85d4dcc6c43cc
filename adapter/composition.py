"""The composition root: the one place the adapter's parts are built from the settings.

The HTTP server (`adapter.api.app.create_app`), every command of `voorzorg-adapter` and the delivery
worker start here, so a change has the same consequences whichever way it is made: the store they get
runs the same effects (`adapter.workflows.effects`: OZKS summary, outbox rows, audit record) at the end
of every unit of work. Nothing registers itself on import; what the exchange can do is declared in
`adapter.exchange.runtime`.

    adapter = compose(Settings.from_env())
    adapter.store.acting_for(actor).write(work)    # a change, with its effects, for whom it is done
    adapter.worker().run_once()                     # deliver what is due
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from adapter.config import Settings
from adapter.domain.facts import Deployment
from adapter.exchange.outbox import Outbox
from adapter.exchange.runtime import Exchange
from adapter.exchange.worker import Worker
from adapter.export.runner import Exports
from adapter.security.audit import Access, Actor, AuditLog, seal_unkeyed
from adapter.security.audit_keys import load_audit_keys
from adapter.security.principal import Principal
from adapter.store.engine import Store
from adapter.workflows.effects import every_change


@dataclass
class Adapter:
    """Every part of a running adapter."""

    settings: Settings
    store: Store  # with the effects every unit of work runs
    exchange: Exchange
    audit: AuditLog = field(init=False)
    outbox: Outbox = field(init=False)
    exports: Exports = field(init=False)  # Bulk Data export jobs, run in the background

    def __post_init__(self) -> None:
        self.audit = AuditLog(self.store)
        self.outbox = self.exchange.outbox(self.store)
        self.exports = Exports(self.store, self.settings)

    @property
    def deployment(self) -> Deployment:
        s = self.settings
        return Deployment(s.trained_modules, s.organization, s.consult_organization)

    def worker(self, **kwargs: Any) -> Worker:
        """A delivery worker on this store, with the declared deliveries."""
        return self.exchange.worker(self.store, **kwargs)

    def operator(self, command: str) -> Store:
        """The store acting for the operator who runs `command` on this machine (the audit names it)."""
        me = Principal(client_id="voorzorg-adapter-cli", role="jgz", organization=self.settings.organization)
        actor = Actor(
            me, Access(interaction="operation"), f"voorzorg-adapter {command}", self.settings.base_url
        )
        return self.store.acting_for(actor)

    def close(self) -> None:
        self.store.dispose()


def compose(settings: Settings, store: Store | None = None, *, migrate: bool = True) -> Adapter:
    """Build the adapter from `settings` (on `store`'s database when given: tests bring their own)."""
    keys = load_audit_keys(settings.audit_key, settings.effective_audit_key_file)
    database = (store if store is not None else Store(settings.effective_database_url)).keyed(keys)
    if migrate and store is None:
        database.migrate(then=seal_unkeyed(settings.base_url, settings.organization))
    exchange = Exchange.from_settings(settings)
    return Adapter(settings, database.with_effects(every_change(settings, exchange)), exchange)
