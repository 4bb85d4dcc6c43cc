"""The Subscription notifier: what reaches the subscribers' endpoints (adapter/exchange/subscriptions.py).

One round (`run_once`):
1. a Subscription `requested` (new, or restarted by its subscriber) gets its handshake; answered, it is
   `active` and its dead notifications go back in the queue; refused, it is `error`, saying why;
2. an `active` one whose `heartbeatPeriod` has passed since the last thing sent gets a heartbeat
   (a refused heartbeat: `error`);
3. the outbox messages of the flow `subscriptions` are delivered by a delivery worker whose peers are
   the Subscriptions of this moment (one peer each, `subscription/{id}`: its endpoint) — the outbox's
   order, backoff, dead letters and NEN 7513 transfer records, as for every peer. Messages of a
   Subscription switched `off` are settled without being sent;
4. an `active` Subscription with a dead notification goes to `error`, with the message's last error.

It runs beside the delivery worker: in the API process (VOORZORG_WORKER=in-process, started and stopped
with the app) or in `voorzorg-adapter worker`. Several notifiers may run; at worst a heartbeat goes twice.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import requests

from adapter.background import Background, repeat
from adapter.config import Settings
from adapter.exchange.client import FhirClient, PeerError, RetryPolicy
from adapter.exchange.endpoints import EndpointPolicy
from adapter.exchange.outbox import DEAD, Outbox
from adapter.exchange.subscriptions import KIND, Channel, channel_of, delivery, notification, post
from adapter.exchange.worker import Worker, WorkerSettings
from adapter.fhir.dates import now_instant
from adapter.store.engine import Store
from adapter.store.session import Session

log = logging.getLogger("voorzorg.exchange")


class SubscriptionNotifier(Background):
    thread_name = "voorzorg-subscription-notifier"

    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        session: requests.Session | None = None,
        worker_settings: WorkerSettings | None = None,
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__()
        self.store = store
        self.settings = settings
        self.session = session or requests.Session()
        self.worker_settings = worker_settings or WorkerSettings.from_settings(settings)
        self.clock = clock
        self.retry = retry or RetryPolicy(retries=1)
        self.outbox = Outbox(store)
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:notifier-{uuid.uuid4().hex[:6]}"
        self.endpoints = EndpointPolicy.of(settings)
        self._deliver = delivery(settings.base_url, self._sent, self.endpoints)

    # --- one round ------------------------------------------------------------------------------
    def run_once(self) -> int:
        """Handshakes, heartbeats and the notifications due; how many were tried."""
        channels = self._channels()
        if not channels:
            return 0
        tried = 0
        now = now_instant()
        for c in channels:
            if c.ended(now):
                continue  # past its `end`: no handshake, no heartbeat (nor events: the route skips it)
            if c.status == "requested":
                tried += self._handshake(c)
            elif c.status == "active" and self._heartbeat_due(c):
                tried += self._heartbeat(c)
        channels = self._channels()
        peers = {
            c.peer: c.as_peer(self.worker_settings.max_attempts)
            for c in channels
            if c.status in ("active", "off")
        }
        if peers:
            worker = Worker(
                self.store,
                peers,
                {KIND: self._deliver},
                settings=self.worker_settings,
                session=self.session,
                retry=self.retry,
                organization=self.settings.organization,
                observer=self.settings.base_url,
                worker_id=self.worker_id,
            )
            tried += worker.run_once()
        for c in channels:
            if c.status == "active":
                self._fail_on_dead(c)
        return tried

    def _channels(self) -> list[Channel]:
        with self.store.reading() as s:
            return [channel_of(x) for x in s.every("Subscription", [])]

    def _client(self, c: Channel) -> FhirClient:
        return FhirClient.for_peer(c.as_peer(1), session=self.session, retry=self.retry)

    def _events(self, c: Channel) -> int:
        with self.store.reading() as s:
            return s.subscriptions.events(c.sub_id) or 0

    def _handshake(self, c: Channel) -> int:
        active = replace(c, status="active")
        bundle = notification(self.settings.base_url, active, "handshake", self._events(c))
        try:
            post(self._client(c), c, bundle, f"voorzorg-handshake-{c.sub_id}", self.endpoints)
        except PeerError as e:
            self._set_status(c.sub_id, "error", f"handshake refused: {e}")
            log.warning("Subscription/%s: handshake refused (%s)", c.sub_id, type(e).__name__)
            return 1
        self._set_status(c.sub_id, "active", None)
        self._sent(c.sub_id)
        _, dead = self.outbox.list(status=DEAD, peer=c.peer, limit=10_000)
        if dead:
            self.outbox.retry([m.id for m in dead])  # restarted: nothing is lost
        return 1

    def _heartbeat_due(self, c: Channel) -> bool:
        if not c.heartbeat:
            return False
        with self.store.reading() as s:
            last = s.subscriptions.last_sent(c.sub_id)
        return last is None or self._ms() - last >= int(c.heartbeat) * 1000

    def _heartbeat(self, c: Channel) -> int:
        bundle = notification(self.settings.base_url, c, "heartbeat", self._events(c))
        try:
            post(self._client(c), c, bundle, f"voorzorg-heartbeat-{c.sub_id}", self.endpoints)
        except PeerError as e:
            self._set_status(c.sub_id, "error", f"heartbeat refused: {e}")
            return 1
        self._sent(c.sub_id)
        return 1

    def _fail_on_dead(self, c: Channel) -> None:
        _, dead = self.outbox.list(status=DEAD, peer=c.peer, limit=1)
        if dead:
            why = (dead[0].last_error or "").splitlines()[0][:300] if dead[0].last_error else "not delivered"
            self._set_status(c.sub_id, "error", f"notification {dead[0].id} could not be delivered: {why}")

    # --- writes ---------------------------------------------------------------------------------
    def _ms(self) -> int:
        return int(self.clock() * 1000)

    def _sent(self, sub_id: str) -> None:
        now = self._ms()
        self.store.write(lambda s: s.subscriptions.sent(sub_id, now))

    def _set_status(self, sub_id: str, status: str, error: str | None) -> None:
        def work(s: Session) -> None:
            current = s.live(f"Subscription/{sub_id}")
            if current is None or current.content.get("status") == "off":
                return
            body: dict[str, Any] = {**current.content, "status": status}
            body.pop("error", None)
            if error:
                body["error"] = error
            s.put(body)

        self.store.write(work)

    # --- the loop -------------------------------------------------------------------------------
    def run(self, stop: threading.Event | None = None) -> None:
        repeat(
            stop or self._stop,
            self.run_once,
            self.worker_settings.poll_interval,
            log,
            "subscription notifier",
        )
