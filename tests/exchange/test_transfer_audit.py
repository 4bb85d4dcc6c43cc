"""Every settled delivery try has its transfer record, whenever the worker dies (issue #16, Found 2).

The worker marks a message delivered (or failed) and writes the AuditEvent of the transfer in one
transaction: a worker killed right after that commit leaves both, never a delivered message whose
transfer to a peer is not in the audit log (NEN 7513: no disclosure without a record).
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from adapter.exchange.outbox import Outbox, enqueue
from adapter.exchange.peers import Peer
from adapter.security.audit import AuditLog
from adapter.store.engine import Store
from adapter.store.session import Session
from tests.exchange.conftest import FAST, deliverer
from tests.exchange.helpers import fake_transaction_peer

PEER = "jgz-dossier"


class Killed(BaseException):
    """The process dying (kill -9): nothing after this point runs, no handler catches it."""


def _enqueue(store: Store, client: str) -> int:
    resource = {"resourceType": "Goal", "id": "g1", "description": {"text": "v1"}}
    payload = {"entries": [{"type": "Goal", "id": "g1", "method": "PUT", "resource": resource}]}

    def work(s: Session) -> int:
        return enqueue(s, flow="test", kind="transaction", peer=PEER, client=client, payload=payload)

    return store.write(work)


def _transfers(store: Store) -> list[dict[str, Any]]:
    return [e for e in AuditLog(store).search(None, 100, 0)[1] if e["subtype"][0]["code"] == "transfer-out"]


@pytest.mark.parametrize(("settle", "status"), [("finished", 200), ("failed", 503)])
def test_a_worker_killed_right_after_settling_leaves_the_transfer_record(
    settle: str, status: int, store: Store, httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    message = _enqueue(store, "Patient/a")
    httpserver.expect_request("/", method="POST").respond_with_handler(
        fake_transaction_peer([], threading.Lock(), lambda _: status)
    )
    original = getattr(Outbox, settle)

    def then_killed(self: Outbox, *args: Any, **kwargs: Any) -> Any:
        original(self, *args, **kwargs)
        raise Killed

    monkeypatch.setattr(Outbox, settle, then_killed)
    worker = deliverer(store, {PEER: Peer(PEER, httpserver.url_for(""), retries=0)}, settings=FAST)
    with pytest.raises(Killed):
        worker.run_once()
    settled = Outbox(store).get(message)
    assert settled is not None and settled.status == ("delivered" if status == 200 else "pending")
    transfers = _transfers(store)
    assert len(transfers) == 1, "the try was settled, but its transfer is not in the audit log"
    assert transfers[0]["entity"][0]["what"]["reference"] == "Patient/a"
    assert transfers[0]["outcome"] == ("0" if status == 200 else "4")
