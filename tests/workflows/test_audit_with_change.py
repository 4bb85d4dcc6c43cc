"""The audit record of a change commits with the change, and only then counts (issue #16, item 2).

A request whose change was recorded by its unit of work gets no second record from the HTTP gate — but
only once that change committed: an attempt rolled back (a concurrent writer got there first) and re-run
may write nothing, and the request then still needs the gate's record. What a request touched besides
its recorded change (read after it) is recorded by the gate too.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError

from adapter.security.audit import Access, Actor, AuditLog, RecordChange
from adapter.store.engine import Store
from adapter.store.session import Session


def _actor() -> Actor:
    return Actor(None, Access(interaction="create"), "POST /Basic", "http://testserver")


def test_a_rolled_back_attempt_does_not_count_as_recorded(store: Store) -> None:
    attempts: list[int] = []

    def conflict_once(_: Session) -> None:  # after RecordChange: the first attempt fails at its end
        if len(attempts) == 1:
            raise IntegrityError("INSERT ...", {}, Exception("a concurrent writer got there first"))

    actor = _actor()
    composed = store.with_effects([RecordChange("http://testserver", None), conflict_once]).acting_for(actor)

    def work(s: Session) -> None:
        attempts.append(1)
        if len(attempts) == 1:  # the second attempt finds the work done: it writes nothing
            s.put({"resourceType": "Basic", "id": "b1", "code": {"text": "x"}})

    composed.write(work)
    assert len(attempts) == 2
    assert AuditLog(store).search(None, 10, 0)[0] == 0  # the first attempt's record was rolled back...
    assert not actor.access.recorded_with_change  # ...so the gate must write the request's record


def test_a_committed_change_counts_as_recorded(store: Store) -> None:
    actor = _actor()
    composed = store.with_effects([RecordChange("http://testserver", None)]).acting_for(actor)
    composed.write(lambda s: s.put({"resourceType": "Basic", "id": "b1", "code": {"text": "x"}}))
    assert actor.access.recorded_with_change
    assert actor.access.unrecorded() is None  # all it touched is in the change's record
    [event] = AuditLog(store).search(None, 10, 0)[1]
    assert {"reference": "Basic/b1"} in [e.get("what") for e in event["entity"]]


def test_what_a_request_read_after_its_change_is_left_for_the_gate() -> None:
    access = Access(interaction="update")
    access.touched("Task/t1", "Patient/p1")
    recorded = Access(interaction="update", entities=["Task/t1"], patients=["Patient/p1"])
    access.committed(recorded)
    access.touched("CarePlan/c1", "Patient/p1")  # read after the change
    access.touched("Observation/o1", "Patient/p2")
    rest: Any = access.unrecorded()
    assert rest is not None and rest.interaction == "read"
    assert rest.entities == ["CarePlan/c1", "Observation/o1"] and rest.patients == ["Patient/p2"]
