"""Keyed tamper evidence (issue #16, Found 3): someone who can write the database but lacks the audit key
cannot rewrite a record and recompute the chain after it; signed checkpoints kept outside the database
pin the log even against whoever holds the key; records made before the key still verify."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text

from adapter.composition import compose
from adapter.config import Settings
from adapter.security.audit import GENESIS, AuditLog
from adapter.security.audit_keys import AuditKeys, key_id, load_audit_keys
from adapter.security.audit_verify import Checkpoint
from adapter.store.engine import Store
from tests.security.helpers import client_as, of_type, post_referral

CLI = str(Path(sys.executable).parent / "voorzorg-adapter")


@pytest.fixture
def jgz(app: FastAPI, settings: Settings) -> TestClient:
    return client_as(app, settings, client_id="jgz-dossier")


def _log(client: TestClient) -> AuditLog:
    log: AuditLog = client.app.state.ctx.adapter.audit  # type: ignore[attr-defined]
    return log


def _traffic(jgz: TestClient, referral: dict[str, Any]) -> None:
    sent = post_referral(jgz, referral)
    assert sent.status_code == 200, sent.text
    patient = f"Patient/{of_type(sent.json(), 'Patient')['id']}"
    for path in (f"/{patient}", "/Task", "/ServiceRequest", f"/{patient}/_history", "/CarePlan"):
        assert jgz.get(path).status_code == 200


def _rows(store: Store) -> list[Any]:
    with store.engine.connect() as conn:
        return list(
            conn.execute(text("SELECT seq, content, prev_hash, hash, key_id FROM audit_event ORDER BY seq"))
        )


def _rewrite(store: Store, seq: int, sign: Any, key: str | None = "keep", until: int | None = None) -> None:
    """Change record `seq` (the client it names) and recompute the chain from there to the head (or to
    record `until`), as a database writer would: `sign(prev, content)` makes each digest, `key` is the
    key id written."""
    rows = _rows(store)[: until or None]
    prev = rows[seq - 2].hash if seq > 1 else GENESIS
    with store.engine.begin() as conn:
        for row in rows[seq - 1 :]:
            content = row.content.replace("jgz-dossier", "someone-else") if row.seq == seq else row.content
            digest = sign(prev, content)
            kid = row.key_id if key == "keep" else key
            conn.execute(
                text(
                    "UPDATE audit_event SET content = :c, prev_hash = :p, hash = :h, key_id = :k"
                    " WHERE seq = :s"
                ),
                {"c": content, "p": prev, "h": digest, "k": kid, "s": row.seq},
            )
            prev = digest
        if until is None:
            conn.execute(text("UPDATE audit_head SET hash = :h"), {"h": prev})


def _plain(prev: str, content: str) -> str:
    return hashlib.sha256((prev + content).encode()).hexdigest()


# --- Found 3: a rewrite plus recompute without the key ----------------------------------------------
def test_a_rewritten_record_with_the_plain_chain_recomputed_is_reported(
    jgz: TestClient, store: Store, referral: dict[str, Any]
) -> None:
    """The issue's attack: record N rewritten, the chain after it and the head recomputed (SHA-256)."""
    _traffic(jgz, referral)
    count, problems = _log(jgz).verify()
    assert problems == [] and count >= 6
    _rewrite(store, 3, _plain)
    _, problems = _log(jgz).verify()
    assert any("record 3 was changed" in p for p in problems), problems


def test_records_stripped_of_their_key_are_reported(
    jgz: TestClient, store: Store, referral: dict[str, Any]
) -> None:
    _traffic(jgz, referral)
    _rewrite(store, 3, _plain, key=None)  # from record 3 on: "made before the key"
    _, problems = _log(jgz).verify()
    assert any("have no key, though record 1 before them has one" in p for p in problems), problems


def test_the_whole_log_recomputed_without_keys_is_reported(
    jgz: TestClient, store: Store, referral: dict[str, Any]
) -> None:
    """Every record passed off as made before the key: no keyed seal vouches for them."""
    _traffic(jgz, referral)
    _rewrite(store, 1, _plain, key=None)
    _, problems = _log(jgz).verify()
    assert any("no keyed seal vouches for them" in p for p in problems), problems


def test_a_chain_recomputed_with_another_key_is_reported(
    jgz: TestClient, store: Store, referral: dict[str, Any]
) -> None:
    _traffic(jgz, referral)
    forger = b"not-the-adapters-key-0123456789"
    _rewrite(
        store,
        2,
        lambda prev, content: hmac.new(forger, (prev + content).encode(), hashlib.sha256).hexdigest(),
        key=key_id(forger),
    )
    _, problems = _log(jgz).verify()
    assert any(f"key {key_id(forger)}, which the key ring does not hold" in p for p in problems), problems


def test_the_key_is_not_in_the_database(
    jgz: TestClient, store: Store, settings: Settings, referral: dict[str, Any]
) -> None:
    _traffic(jgz, referral)
    keys = load_audit_keys("", settings.effective_audit_key_file)
    assert (settings.data_dir / "audit-key").stat().st_mode & 0o077 == 0  # readable by the owner only
    secret = next(iter(keys.secrets.values())).decode()
    with store.engine.connect() as conn:
        for table in ("audit_event", "audit_head", "resource"):
            dump = " ".join(str(r) for r in conn.execute(text(f"SELECT * FROM {table}")))
            assert secret not in dump


# --- checkpoints ------------------------------------------------------------------------------------
def test_a_checkpoint_pins_the_log_against_a_key_holder(
    jgz: TestClient, store: Store, referral: dict[str, Any]
) -> None:
    """Someone with the key too (the adapter's own host) can recompute a keyed chain; a checkpoint kept
    elsewhere still shows the history before it changed."""
    _traffic(jgz, referral)
    log = _log(jgz)
    checkpoint = Checkpoint("today.json", log.checkpoint("http://testserver"))
    assert log.verify([checkpoint])[1] == []
    keys: AuditKeys = jgz.app.state.ctx.adapter.store.audit_keys  # type: ignore[attr-defined]
    _rewrite(store, 2, lambda prev, content: keys.sign(prev + content)[1])
    assert log.verify()[1] == []  # the key holder's forgery passes the chain...
    _, problems = log.verify([checkpoint])
    assert any("the log was rewritten up to it" in p for p in problems), problems  # ...not the checkpoint


def test_a_checkpoint_shows_records_removed_from_the_end(
    jgz: TestClient, store: Store, referral: dict[str, Any]
) -> None:
    _traffic(jgz, referral)
    log = _log(jgz)
    checkpoint = Checkpoint("today.json", log.checkpoint("http://testserver"))
    last = checkpoint.content["seq"]
    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_patient WHERE seq >= :s"), {"s": last - 1})
        conn.execute(text("DELETE FROM audit_event WHERE seq >= :s"), {"s": last - 1})
        row = conn.execute(text("SELECT seq, hash FROM audit_event ORDER BY seq DESC LIMIT 1")).one()
        conn.execute(text("UPDATE audit_head SET seq = :s, hash = :h"), {"s": row.seq, "h": row.hash})
    assert log.verify()[1] == []  # a consistent, shorter log...
    _, problems = log.verify([checkpoint])
    assert any(f"vouches for record {last}, but the log ends at record {last - 2}" in p for p in problems)


def test_an_altered_checkpoint_is_refused(jgz: TestClient, referral: dict[str, Any]) -> None:
    _traffic(jgz, referral)
    log = _log(jgz)
    made = log.checkpoint("http://testserver")
    altered = {**made, "seq": made["seq"] - 1}
    _, problems = log.verify([Checkpoint("altered.json", altered)])
    assert problems == ["checkpoint altered.json does not carry a valid signature (altered?)"]


def _cli(settings: Settings, store: Store, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ,
        "VOORZORG_DATA_DIR": str(settings.data_dir),
        "VOORZORG_BASE_URL": settings.base_url,
        "VOORZORG_DATABASE_URL": store.engine.url.render_as_string(hide_password=False),
        **env,
    }
    return subprocess.run(
        [CLI, *args], env=environment, capture_output=True, text=True, timeout=120, check=False
    )


def test_checkpoint_and_verify_on_the_command_line(
    settings: Settings, jgz: TestClient, store: Store, referral: dict[str, Any], tmp_path: Path
) -> None:
    _traffic(jgz, referral)
    elsewhere = tmp_path / "elsewhere.json"
    made = _cli(settings, store, "audit", "checkpoint", "--out", str(elsewhere))
    assert made.returncode == 0, made.stdout + made.stderr
    content = json.loads(elsewhere.read_text())
    assert content["seq"] == len(_rows(store)) and content["hash"] == _rows(store)[-1].hash
    assert list(settings.audit_checkpoint_dir.glob("*.json"))  # a copy in the data directory too
    ok = _cli(settings, store, "audit", "verify", "--checkpoint", str(elsewhere))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "2 checkpoint(s) checked" in ok.stdout and "chain intact" in ok.stdout
    _rewrite(store, 2, _plain)
    broken = _cli(settings, store, "audit", "verify")
    assert broken.returncode == 1, broken.stdout
    assert "BROKEN: record 2 was changed" in broken.stdout
    # without the key the log is not verifiable at all: that is said, not passed over
    other = _cli(settings, store, "audit", "verify", VOORZORG_AUDIT_KEY="an-entirely-different-key-value")
    assert other.returncode == 1 and "which the key ring does not hold" in other.stdout


# --- key rotation -----------------------------------------------------------------------------------
def test_after_a_rotation_old_records_verify_with_the_retired_key(
    tmp_path: Path, store: Store, referral: dict[str, Any]
) -> None:
    old, new = "first-audit-key-0123456789abcdef", "second-audit-key-0123456789abcdef"
    url = store.engine.url.render_as_string(hide_password=False)
    before = Settings(data_dir=tmp_path, base_url="http://testserver", database_url=url, audit_key=old)
    first = compose(before)
    first.audit.append(_event("before the rotation"))
    rotated = replace(before, audit_key=f"{old},{new}")
    second = compose(rotated)
    second.audit.append(_event("after the rotation"))
    assert second.audit.verify() == (2, [])
    kids = [r.key_id for r in _rows(store)]
    assert kids == [key_id(old.encode()), key_id(new.encode())]
    _, problems = compose(replace(before, audit_key=new)).audit.verify()  # the old key dropped
    assert any(f"key {key_id(old.encode())}, which the key ring does not hold" in p for p in problems)
    for a in (first, second):
        a.close()


def _event(text_: str) -> dict[str, Any]:
    return {"resourceType": "AuditEvent", "recorded": "2026-01-01T00:00:00Z", "outcomeDesc": text_}


# --- records made before the key ------------------------------------------------------------------
def _to_revision(store: Store, revision: str, how: str = "downgrade") -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parents[2] / "adapter/store/migrations"))
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        getattr(command, how)(cfg, revision)


def _unkeyed_records(store: Store, n: int) -> None:
    """Records as the adapter wrote them before the key: plain SHA-256, no key column."""
    prev = GENESIS
    with store.engine.begin() as conn:
        for seq in range(1, n + 1):
            content = json.dumps(
                _event(f"old record {seq}, by jgz-dossier"), separators=(",", ":"), sort_keys=True
            )
            digest = _plain(prev, content)
            conn.execute(
                text(
                    "INSERT INTO audit_event (seq, event_id, recorded, content, prev_hash, hash)"
                    " VALUES (:s, :e, :r, :c, :p, :h)"
                ),
                {
                    "s": seq,
                    "e": f"old-{seq}",
                    "r": "2025-01-01T00:00:00Z",
                    "c": content,
                    "p": prev,
                    "h": digest,
                },
            )
            prev = digest
        conn.execute(text("INSERT INTO audit_head (id, seq, hash) VALUES (1, :s, :h)"), {"s": n, "h": prev})


def test_records_made_before_the_key_still_verify_and_are_sealed(tmp_path: Path, store: Store) -> None:
    _to_revision(store, "0004")
    _unkeyed_records(store, 3)
    url = store.engine.url.render_as_string(hide_password=False)
    settings = Settings(data_dir=tmp_path, base_url="http://testserver", database_url=url)
    adapter = compose(settings)  # migrates to 0005_relcore: seals records 1-3 in the same transaction
    adapter.audit.append(_event("a new record"))
    assert adapter.audit.verify() == (5, [])
    rows = _rows(store)
    assert [r.key_id is None for r in rows] == [True, True, True, False, False]
    assert "records 1-3" in json.loads(rows[3].content)["outcomeDesc"]
    assert compose(settings).audit.verify() == (5, [])  # a restart seals nothing again
    _rewrite(store, 2, _plain, key=None, until=3)  # an old record rewritten, the old chain recomputed
    _, problems = adapter.audit.verify()
    assert any("record 4 does not link" in p for p in problems), problems
    adapter.close()


def test_a_checkpoint_can_go_to_a_peer(
    settings: Settings, jgz: TestClient, store: Store, referral: dict[str, Any], httpserver: Any
) -> None:
    _traffic(jgz, referral)
    httpserver.expect_oneshot_request("/checkpoints", method="POST").respond_with_data("", status=201)
    sent = _cli(settings, store, "audit", "checkpoint", "--to", httpserver.url_for("/checkpoints"))
    assert sent.returncode == 0, sent.stdout + sent.stderr
    [(request, _)] = httpserver.log
    received = json.loads(request.get_data())
    assert received["seq"] == len(_rows(store)) and received["mac"]
    httpserver.expect_oneshot_request("/checkpoints", method="POST").respond_with_data("", status=500)
    refused = _cli(settings, store, "audit", "checkpoint", "--to", httpserver.url_for("/checkpoints"))
    assert refused.returncode == 1 and "HTTP 500" in refused.stderr
