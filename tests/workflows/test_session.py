"""The storage interface workflows are written against (adapter/store/session.py), on a real session of
SQLite and PostgreSQL: searches in the domain's words, the outbox queue and the audit chain behind it."""

from __future__ import annotations

import contextlib
from typing import Any

from adapter.security.audit import AuditLog, append_event
from adapter.store.engine import Store
from adapter.store.session import Session

TRACK = "https://fhir.voorzorg.nl/CodeSystem/voorzorg-track"


def _plan(pid: str, patient: str, status: str) -> dict[str, Any]:
    return {
        "resourceType": "CarePlan",
        "id": pid,
        "status": status,
        "intent": "plan",
        "subject": {"reference": patient},
        "category": [{"coding": [{"system": TRACK, "code": "voorzorg"}]}],
    }


def test_find_count_and_every_speak_in_criteria_not_sql(store: Store) -> None:
    def work(s: Session) -> None:
        for i, status in enumerate(["active", "on-hold", "completed", "active"]):
            s.put(_plan(f"p{i}", "Patient/a" if i < 3 else "Patient/b", status))

    store.write(work)
    with store.reading() as s:
        running = s.find("CarePlan", patient="Patient/a", status=("active", "on-hold"))
        assert sorted(p.res_id for p in running) == ["p0", "p1"]
        assert s.count("CarePlan", status="active") == 2
        assert s.count("CarePlan", category=f"{TRACK}|voorzorg") == 4  # a token with its system
        assert s.count("CarePlan", category="http://other|voorzorg") == 0
        assert [p.res_id for p in s.find("CarePlan", patient="Patient/a", newest_first=True)] == [
            "p2",
            "p1",
            "p0",
        ]
        assert len(s.every("CarePlan", [], page=3)) == 4  # page by page, all of them
        assert s.live("CarePlan/p0") is not None and s.live("CarePlan/nope") is None and s.live("bad") is None


def test_deleted_resources_are_not_live_and_not_found(store: Store) -> None:
    store.write(lambda s: s.put(_plan("p", "Patient/a", "active")))
    store.write(lambda s: s.delete("CarePlan", "p"))
    with store.reading() as s:
        assert s.live("CarePlan/p") is None and s.find("CarePlan") == []
        gone = s.get("CarePlan", "p")
        assert gone is not None and gone.deleted


def test_the_queue_keeps_each_clients_order_and_drops_what_is_covered(store: Store) -> None:
    def queue(s: Session) -> list[int]:
        return [
            s.queue.add(flow="f", kind="k", peer="p", client=c, payload={"n": n}, now_ms=0)
            for n, c in enumerate(["Patient/a", "Patient/a", "Patient/b"])
        ]

    a1, a2, b1 = store.write(queue)
    taken = store.write(lambda s: s.queue.claim("w", limit=10, lease_ms=1000, now_ms=1, peers=None))
    assert [m.id for m in taken] == [a1, b1]  # a2 waits behind a1
    dropped = store.write(
        lambda s: s.queue.drop(flow="f", client="Patient/a", reason="r", covers=lambda _: True)
    )
    assert dropped == 1  # a2 only: a1 is held by the worker
    assert store.write(lambda s: s.queue.settle(a1, "someone else", status="delivered")) is False
    assert store.write(lambda s: s.queue.settle(a1, "w", status="delivered")) is True
    with store.reading() as s:
        assert s.queue.get(a2).status == "superseded"  # type: ignore[union-attr]
        assert s.queue.counts()["delivered"] == 1


def test_audit_records_chain_inside_the_units_of_work_that_write_them(store: Store) -> None:
    event = {"resourceType": "AuditEvent", "recorded": "2026-12-01T10:00:00.000000Z", "entity": []}
    store.write(lambda s: [append_event(s, dict(event)) for _ in range(3)])
    with contextlib.suppress(ZeroDivisionError):  # rolled back: its record with it
        store.write(lambda s: (append_event(s, dict(event)), 1 / 0))
    count, problems = AuditLog(store).verify()
    assert (count, problems) == (3, [])


def test_a_client_assertion_is_used_once(store: Store) -> None:
    assert store.write(lambda s: s.use_assertion("client:jti-1", expires=2_000_000_000, now=1_000)) is True
    assert store.write(lambda s: s.use_assertion("client:jti-1", expires=2_000_000_000, now=1_001)) is False
