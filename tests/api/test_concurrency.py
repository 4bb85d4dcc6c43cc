"""Concurrent intake: identical referrals at once never duplicate the client, the referral or the Task.

Each thread has its own TestClient over the same app (and so the same store); a barrier releases
them together so their transactions overlap in the database.
"""

from __future__ import annotations

import copy
import json
import threading
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response

from adapter.store.engine import Store
from tests.api.helpers import BSN, BSN_SYSTEM, SR, of_type, one, resource, total
from tests.conftest import FHIR_JSON_HEADERS

THREADS = 8


@pytest.fixture
def pg_store(store: Store) -> Store:
    if store.is_sqlite:
        pytest.skip("concurrent writers are a PostgreSQL concern; SQLite serialises writers")
    return store


def run_together(app: FastAPI, headers: dict[str, str], bodies: list[dict[str, Any]]) -> list[Response]:
    barrier = threading.Barrier(len(bodies))
    results: list[Response | BaseException | None] = [None] * len(bodies)

    def worker(i: int) -> None:
        try:
            with TestClient(app, headers=headers) as c:
                barrier.wait(timeout=30)
                results[i] = c.post("/", content=json.dumps(bodies[i]), headers=FHIR_JSON_HEADERS)
        except BaseException as e:  # reported below, in the test's thread
            results[i] = e

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(bodies))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    out: list[Response] = []
    for r in results:
        assert isinstance(r, Response), f"a thread failed: {r!r}"
        out.append(r)
    return out


def _check_all_ok(responses: list[Response]) -> list[dict[str, Any]]:
    for r in responses:
        assert r.status_code == 200, r.text
    return [r.json() for r in responses]


def test_identical_referrals_at_once_store_one_of_each(
    pg_store: Store, app: FastAPI, client: TestClient, auth_headers: dict[str, str], referral: dict[str, Any]
) -> None:
    bundles = _check_all_ok(
        run_together(app, auth_headers, [copy.deepcopy(referral) for _ in range(THREADS)])
    )
    for kind in ("Patient", "ServiceRequest", "Task", "GuidanceResponse"):
        assert len({one(b, kind)["id"] for b in bundles}) == 1, kind
    assert total(client, f"/Patient?identifier={BSN_SYSTEM}|{BSN}") == 1
    assert total(client, "/Patient") == 1
    assert total(client, "/ServiceRequest") == 1
    assert total(client, "/Task") == 1
    assert total(client, "/GuidanceResponse") == 1
    assert total(client, "/Observation") == 6
    assert total(client, "/Organization") == 1
    task_id = one(bundles[0], "Task")["id"]
    task = client.get(f"/Task/{task_id}")
    assert task.json()["status"] == "accepted"
    # identical content: the losers found the winner's rows and wrote no new versions
    assert task.headers["etag"] == 'W/"1"'
    assert client.get(f"/Task/{task_id}/_history").json()["total"] == 1


def test_different_referrals_for_one_bsn_at_once_share_one_patient(
    pg_store: Store, app: FastAPI, client: TestClient, auth_headers: dict[str, str], referral: dict[str, Any]
) -> None:
    bodies = []
    for i in range(THREADS):
        b = copy.deepcopy(referral)
        resource(b, SR)["identifier"][0]["value"] = f"VZ-2026-{100 + i:04d}"
        bodies.append(b)
    bundles = _check_all_ok(run_together(app, auth_headers, bodies))
    assert len({one(b, "Patient")["id"] for b in bundles}) == 1
    assert len({one(b, "ServiceRequest")["id"] for b in bundles}) == THREADS
    assert len({one(b, "Task")["id"] for b in bundles}) == THREADS
    assert total(client, f"/Patient?identifier={BSN_SYSTEM}|{BSN}") == 1
    assert total(client, "/Patient") == 1
    assert total(client, "/Organization") == 1
    assert total(client, "/ServiceRequest") == THREADS
    assert total(client, "/Task") == THREADS
    assert total(client, "/GuidanceResponse") == THREADS
    assert total(client, "/Observation") == 6 * THREADS
    patient_id = one(bundles[0], "Patient")["id"]
    assert total(client, f"/ServiceRequest?patient={patient_id}") == THREADS
    # every referral's Observations point at the one Patient
    for b in bundles:
        for obs in of_type(b, "Observation"):
            assert obs["subject"]["reference"] == f"Patient/{patient_id}"


def test_identical_referrals_through_the_workflow_directly(pg_store: Store, referral: dict[str, Any]) -> None:
    from adapter.domain.facts import Deployment
    from adapter.workflows.intake import intake

    barrier = threading.Barrier(THREADS)
    errors: list[BaseException] = []
    task_ids: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        try:
            barrier.wait(timeout=30)
            result = intake(
                pg_store, copy.deepcopy(referral), Deployment(frozenset({"voorzorg-2", "late-start"}))
            )
            with lock:
                task_ids.append(result.task.stored.res_id)
        except BaseException as e:
            with lock:
                errors.append(e)

    _join([threading.Thread(target=worker) for _ in range(THREADS)])
    assert not errors, [type(e).__name__ for e in errors]
    assert len(task_ids) == THREADS and len(set(task_ids)) == 1
    with pg_store.reading() as s:
        for rtype, expected in (("Patient", 1), ("ServiceRequest", 1), ("Task", 1), ("Observation", 6)):
            n, _ = s.search(rtype, [], 100, 0)
            assert n == expected, rtype


def _join(threads: list[threading.Thread]) -> None:
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
        assert not t.is_alive()
