"""What the server keeps of each Subscription besides the resource itself: how many events it has had
(the backport's `events-since-subscription-start`, numbering every notification so a subscriber sees a
gap) and when something last went out to its endpoint (the heartbeat is due `heartbeatPeriod` after).

A counter is no resource version: counting in the Subscription resource would make a new version of it
for every Task change. It is kept in the same transaction as the change it counts, so a rolled back change
leaves no gap (adapter/exchange/subscriptions.py).
"""

from __future__ import annotations

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection

from adapter.store.schema import subscription_state


class SubscriptionRows:
    def __init__(self, conn: Connection, is_sqlite: bool) -> None:
        self.conn = conn
        self.is_sqlite = is_sqlite

    def start(self, sub_id: str) -> None:
        """The Subscription exists (idempotent): no events yet."""
        if self.events(sub_id) is None:
            self.conn.execute(insert(subscription_state).values(sub_id=sub_id, events=0))

    def next_event(self, sub_id: str) -> int:
        """Count one more event and answer its number (1, 2, ...). The row stays locked until commit, so
        concurrent changes number their events one after the other."""
        self.start(sub_id)
        c = subscription_state.c
        self.conn.execute(update(subscription_state).where(c.sub_id == sub_id).values(events=c.events + 1))
        return int(self.events(sub_id) or 0)

    def events(self, sub_id: str) -> int | None:
        found = self.conn.execute(
            select(subscription_state.c.events).where(subscription_state.c.sub_id == sub_id)
        ).scalar_one_or_none()
        return None if found is None else int(found)

    def sent(self, sub_id: str, now_ms: int) -> None:
        """Something went out to the endpoint (handshake, heartbeat, event notification) at `now_ms`."""
        self.start(sub_id)
        c = subscription_state.c
        self.conn.execute(update(subscription_state).where(c.sub_id == sub_id).values(last_sent=now_ms))

    def last_sent(self, sub_id: str) -> int | None:
        found = self.conn.execute(
            select(subscription_state.c.last_sent).where(subscription_state.c.sub_id == sub_id)
        ).scalar_one_or_none()
        return None if found is None else int(found)
