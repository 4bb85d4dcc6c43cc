"""The exchange as one process runs it: peers loaded, the outbox hook on the store, a worker if wanted.

`setup(store, settings)` is what `create_app` (in-process worker, started and stopped with the app's
lifespan) and `voorzorg-adapter worker` (a process of its own) call. With no peers configured it
installs nothing and the worker has nothing to do (no thread is started).
"""

from __future__ import annotations

from dataclasses import dataclass

from adapter.config import Settings
from adapter.exchange.outbox import Outbox, OutboxHook, install
from adapter.exchange.peers import Peer, load_peers
from adapter.exchange.routing import default_flows
from adapter.exchange.worker import Worker
from adapter.store.repository import Store
from adapter.workflows.sharing import install_summaries


@dataclass
class Exchange:
    peers: dict[str, Peer]
    outbox: Outbox
    hook: OutboxHook | None
    worker: Worker | None  # the in-process worker, when settings.worker says so and there are peers

    def start(self) -> None:
        if self.worker is not None:
            self.worker.start()

    def stop(self) -> None:
        if self.worker is not None:
            self.worker.stop()


def setup(store: Store, settings: Settings, *, in_process_worker: bool | None = None) -> Exchange:
    peers = load_peers(settings.peers_file)
    install_summaries(store, settings)  # first: the OZKS summary it writes is routed like any change
    hook = install(store, default_flows(), peers)
    want_worker = settings.worker == "in-process" if in_process_worker is None else in_process_worker
    worker = Worker.from_settings(store, settings) if want_worker and peers else None
    return Exchange(peers, Outbox(store), hook, worker)
