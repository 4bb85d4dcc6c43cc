"""The audit log is append-only through the API, survives the rollback of the request it records, and
its hash chain shows any change made to it in the database (also through `voorzorg-adapter audit verify`)."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text

from adapter.config import Settings
from adapter.security.audit import AuditLog
from adapter.store.engine import Store
from tests.security.helpers import (
    REFUSED,
    SUCCESS,
    client_as,
    events,
    events_at,
    install_failing_trigger,
    last_at,
    of_type,
    patients,
    post_referral,
    privacy_officer,
    remove_failing_trigger,
)

CLI = str(Path(sys.executable).parent / "voorzorg-adapter")


def audit_log(client: TestClient) -> AuditLog:
    """The audit log of the app behind `client`, with its key ring (a bare store has none)."""
    log: AuditLog = client.app.state.ctx.adapter.audit  # type: ignore[attr-defined]
    return log


@pytest.fixture
def jgz(app: FastAPI, settings: Settings) -> TestClient:
    return client_as(app, settings, client_id="jgz-dossier")


def _traffic(jgz: TestClient, referral: dict[str, Any]) -> str:
    """A referral and some reads: a handful of audit records. Returns the patient reference."""
    sent = post_referral(jgz, referral)
    assert sent.status_code == 200, sent.text
    patient = f"Patient/{of_type(sent.json(), 'Patient')['id']}"
    for path in (f"/{patient}", "/Task", "/ServiceRequest", f"/{patient}/_history"):
        assert jgz.get(path).status_code == 200
    return patient


# --- append-only through the API --------------------------------------------------------------------
@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
@pytest.mark.parametrize("path", ["/AuditEvent", "/AuditEvent/{id}"])
@pytest.mark.parametrize("who", ["privacy-officer", "jgz"])
def test_the_audit_log_cannot_be_written_through_the_api(
    method: str, path: str, who: str, app: FastAPI, settings: Settings, store: Store
) -> None:
    officer = privacy_officer(app, settings)
    assert officer.get("/AuditEvent").status_code == 200  # at least one record exists now
    before = events(store)
    target = before[0]
    c = officer if who == "privacy-officer" else client_as(app, settings)
    url = path.format(id=target["id"])
    forged = {**target, "outcome": "0", "outcomeDesc": "nothing happened"}
    r = c.request(method, url, json=forged, headers={"Content-Type": "application/fhir+json"})
    assert r.status_code == 405, r.text
    assert "GET" in r.headers.get("allow", "")
    assert r.json()["resourceType"] == "OperationOutcome"
    after = events(store)
    assert after[: len(before)] == before  # nothing changed or removed
    assert all(e["outcomeDesc"] != "nothing happened" for e in after)
    assert audit_log(officer).verify()[1] == []


# --- records survive the request's rollback ---------------------------------------------------------
def test_a_refused_referral_still_leaves_an_audit_record(
    jgz: TestClient, store: Store, referral: dict[str, Any]
) -> None:
    bad = copy.deepcopy(referral)
    for e in bad["entry"]:
        if e["resource"]["resourceType"] == "Patient":
            e["resource"]["identifier"][0]["value"] = "123456789"  # fails the 11-test
    r = post_referral(jgz, bad)
    assert r.status_code == 422, r.text
    event = last_at(store, "POST /")
    assert event["outcome"] == REFUSED
    assert event["outcomeDesc"] == "HTTP 422"
    assert jgz.get("/Patient").json()["total"] == 0  # the request's own work was rolled back


@pytest.fixture
def failing_insert(store: Store) -> Iterator[Store]:
    install_failing_trigger(store)
    yield store
    remove_failing_trigger(store)


def test_the_failing_trigger_gives_a_500(
    failing_insert: Store, jgz: TestClient, referral: dict[str, Any]
) -> None:
    """The premise of the next test: the database failure reaches the client as a 500, nothing stored."""
    r = post_referral(jgz, referral)
    assert r.status_code == 500, r.text
    assert jgz.get("/Patient").json()["total"] == 0


def test_a_server_error_still_leaves_an_audit_record(
    failing_insert: Store, jgz: TestClient, referral: dict[str, Any]
) -> None:
    before = len(events_at(failing_insert, "POST /"))
    r = post_referral(jgz, referral)
    assert r.status_code == 500
    after = events_at(failing_insert, "POST /")
    assert len(after) == before + 1
    assert after[-1]["outcome"] not in (SUCCESS, "")
    assert after[-1]["outcomeDesc"] == "HTTP 500"


# --- the hash chain ---------------------------------------------------------------------------------
def test_the_chain_is_intact_after_traffic(jgz: TestClient, store: Store, referral: dict[str, Any]) -> None:
    _traffic(jgz, referral)
    count, problems = audit_log(jgz).verify()
    assert count == len(events(store)) >= 5
    assert problems == []


def _exec(store: Store, sql: str, **params: Any) -> int:
    with store.engine.begin() as conn:
        return int(conn.execute(text(sql), params).rowcount)


def test_a_changed_record_is_reported(jgz: TestClient, store: Store, referral: dict[str, Any]) -> None:
    _traffic(jgz, referral)
    with store.engine.connect() as conn:
        content = conn.execute(text("SELECT content FROM audit_event WHERE seq = 2")).scalar_one()
    forged = content.replace('"outcome":"0"', '"outcome":"4"').replace("jgz-dossier", "someone-else")
    assert forged != content
    assert _exec(store, "UPDATE audit_event SET content = :c WHERE seq = 2", c=forged) == 1
    _, problems = audit_log(jgz).verify()
    assert any("record 2" in p and "changed" in p for p in problems), problems


def test_a_changed_record_with_a_recomputed_hash_breaks_the_next_link(
    jgz: TestClient, store: Store, referral: dict[str, Any]
) -> None:
    import hashlib

    _traffic(jgz, referral)
    with store.engine.connect() as conn:
        row = conn.execute(text("SELECT content, prev_hash FROM audit_event WHERE seq = 2")).one()
    forged = row.content.replace("jgz-dossier", "someone-else")
    new_hash = hashlib.sha256((row.prev_hash + forged).encode()).hexdigest()
    _exec(store, "UPDATE audit_event SET content = :c, hash = :h WHERE seq = 2", c=forged, h=new_hash)
    _, problems = audit_log(jgz).verify()
    assert any("record 3" in p and "link" in p for p in problems), problems


def test_a_removed_record_is_reported(jgz: TestClient, store: Store, referral: dict[str, Any]) -> None:
    _traffic(jgz, referral)
    assert _exec(store, "DELETE FROM audit_event WHERE seq = 2") == 1
    _, problems = audit_log(jgz).verify()
    assert any("record 2 is missing" in p for p in problems), problems
    assert any("record 3" in p and "link" in p for p in problems), problems


def test_a_removed_and_renumbered_record_is_reported(
    jgz: TestClient, store: Store, referral: dict[str, Any]
) -> None:
    _traffic(jgz, referral)
    with store.engine.connect() as conn:
        last = conn.execute(text("SELECT max(seq) FROM audit_event")).scalar_one()
    _exec(store, "DELETE FROM audit_event WHERE seq = 2")
    for seq in range(3, last + 1):
        _exec(store, "UPDATE audit_event SET seq = :n WHERE seq = :o", n=seq - 1, o=seq)
    _, problems = audit_log(jgz).verify()
    assert problems, "a record was removed and the rest renumbered, but the chain looks intact"


def test_a_removed_newest_record_is_reported(jgz: TestClient, store: Store, referral: dict[str, Any]) -> None:
    _traffic(jgz, referral)
    _exec(store, "DELETE FROM audit_event WHERE seq = (SELECT max(seq) FROM audit_event)")
    _, problems = audit_log(jgz).verify()
    assert problems


def test_hiding_records_from_the_patient_search_is_reported(
    app: FastAPI, settings: Settings, jgz: TestClient, store: Store, referral: dict[str, Any]
) -> None:
    patient = _traffic(jgz, referral)
    officer = privacy_officer(app, settings)
    before = officer.get(f"/AuditEvent?patient={patient}").json()["total"]
    assert before >= 2
    assert _exec(store, "DELETE FROM audit_patient WHERE patient = :p", p=patient) == before
    assert officer.get(f"/AuditEvent?patient={patient}").json()["total"] == 0  # hidden...
    assert any(patient in patients(e) for e in events(store))  # ...though the records are there
    _, problems = audit_log(jgz).verify()
    assert problems  # ...and verify should say so


# --- `voorzorg-adapter audit verify` ----------------------------------------------------------------
def _cli(settings: Settings, store: Store, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "VOORZORG_DATA_DIR": str(settings.data_dir),
        "VOORZORG_BASE_URL": settings.base_url,
        "VOORZORG_DATABASE_URL": store.engine.url.render_as_string(hide_password=False),
    }
    return subprocess.run([CLI, *args], env=env, capture_output=True, text=True, timeout=120, check=False)


def test_audit_verify_on_the_command_line(
    settings: Settings, jgz: TestClient, store: Store, referral: dict[str, Any]
) -> None:
    _traffic(jgz, referral)
    ok = _cli(settings, store, "audit", "verify")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "chain intact" in ok.stdout
    assert f"{len(events(store))} audit records checked" in ok.stdout
    _exec(store, "UPDATE audit_event SET content = replace(content, 'jgz-dossier', 'x') WHERE seq = 2")
    broken = _cli(settings, store, "audit", "verify")
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert "BROKEN: record 2" in broken.stdout


def test_audit_verify_on_a_sqlite_data_dir(tmp_path: Path, referral: dict[str, Any]) -> None:
    """The operator's case: only VOORZORG_DATA_DIR, the default SQLite database inside it."""
    from adapter.api.app import create_app
    from tests.conftest import bearer

    settings = Settings(data_dir=tmp_path, base_url="http://testserver")
    app = create_app(settings)
    jgz = TestClient(app, headers=bearer(settings), raise_server_exceptions=False)
    _traffic(jgz, referral)
    env = {**os.environ, "VOORZORG_DATA_DIR": str(tmp_path)}
    env.pop("VOORZORG_DATABASE_URL", None)
    run = [CLI, "audit", "verify"]
    ok = subprocess.run(run, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    store = app.state.ctx.store
    _exec(store, "DELETE FROM audit_event WHERE seq = 3")
    broken = subprocess.run(run, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert "record 3 is missing" in broken.stdout
    store.dispose()
