"""Watching and mending the outbox: the admin view (its own scope and role, audited), the CLI (list,
retry, purge-delivered), the in-process worker started and stopped with the app, and configuration."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pytest_httpserver import HTTPServer

from adapter.api.app import create_app
from adapter.cli import main
from adapter.config import Settings
from adapter.exchange.outbox import Outbox
from adapter.exchange.peers import load_peers
from adapter.security.audit import AuditLog
from adapter.store.engine import Store
from tests.conftest import bearer
from tests.exchange.conftest import deliverer, env_for, exchange_settings, peers_file
from tests.exchange.helpers import fake_transaction_peer, fresh, intake

ADMIN = {"role": "exchange-admin", "scope": "system/OutboxMessage.rs", "organization": None}


@pytest.fixture
def dead_letter(store: Store, tmp_path: Path, httpserver: HTTPServer, referral: dict[str, Any]) -> Settings:
    """An accepted referral whose message the peer refused (400): one dead letter."""
    log: list[int] = []
    httpserver.expect_request("/", method="POST").respond_with_handler(
        fake_transaction_peer(log, threading.Lock(), lambda _: 400 if len(log) == 1 else 200)
    )
    settings = exchange_settings(
        tmp_path, peers_file(tmp_path, **{"jgz-dossier": {"base_url": httpserver.url_for("")}})
    )
    app = create_app(settings, store)
    intake(TestClient(app, headers=bearer(settings)), fresh(referral)[0])
    from tests.exchange.conftest import FAST, drain

    drain(deliverer(store, load_peers(settings.peers_file), settings=FAST))
    assert Outbox(store).counts()["dead"] == 1
    return settings


def test_the_admin_view_needs_its_own_scope_and_role_and_is_audited(
    store: Store, dead_letter: Settings
) -> None:
    app = create_app(dead_letter, store)
    jgz = TestClient(app, headers=bearer(dead_letter))  # system/*.cruds does not imply the outbox
    assert jgz.get("/admin/outbox").status_code == 403
    assert TestClient(app).get("/admin/outbox").status_code == 401
    admin = TestClient(app, headers=bearer(dead_letter, **ADMIN))  # type: ignore[arg-type]
    r = admin.get("/admin/outbox?status=dead")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["counts"]["dead"] == 1 and body["total"] == 1
    assert body["peers"] == []  # a 400 is an answer: the peer's circuit has nothing to say
    m = body["messages"][0]
    assert (
        m["peer"] == "jgz-dossier"
        and "HTTP 400" in m["lastError"]
        and m["entries"][0].startswith("PUT Patient/")
    )
    assert "resource" not in str(body).lower().replace("resourcetype", "")  # no content, only references
    assert admin.get(f"/admin/outbox/{m['id']}").json()["client"] == m["client"]
    assert admin.get("/admin/outbox/999999").status_code == 404
    assert admin.get("/admin/outbox?status=lost").status_code == 400
    assert admin.get("/AuditEvent").status_code == 403  # the role sees the queue, nothing else
    _, events = AuditLog(store).search(m["client"], 50, 0)
    views = [e for e in events if e["source"]["site"].startswith("GET /admin/outbox")]
    assert views and views[0]["agent"][0]["policy"] == ["exchange-admin"]


def test_the_cli_lists_retries_and_purges(
    store: Store, dead_letter: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for k, v in env_for(store, dead_letter).items():
        if k.startswith("VOORZORG_"):
            monkeypatch.setenv(k, v)
    assert main(["outbox", "list", "--status", "dead"]) == 0
    out = capsys.readouterr().out
    assert "dead: 1" in out and "jgz-dossier" in out and "last error: jgz-dossier: HTTP 400" in out
    assert main(["outbox", "retry"]) == 0
    assert "1 dead message(s) back in the queue" in capsys.readouterr().out
    assert main(["worker", "--once"]) == 0
    assert Outbox(store).counts() == {"pending": 0, "delivered": 1, "dead": 0}
    assert main(["outbox", "purge-delivered"]) == 0
    assert "1 delivered message(s) removed" in capsys.readouterr().out
    assert Outbox(store).counts()["delivered"] == 0


def test_the_in_process_worker_runs_with_the_apps_lifespan(
    store: Store, tmp_path: Path, httpserver: HTTPServer, referral: dict[str, Any]
) -> None:
    log: list[int] = []
    httpserver.expect_request("/", method="POST").respond_with_handler(
        fake_transaction_peer(log, threading.Lock())
    )
    settings = exchange_settings(
        tmp_path,
        peers_file(tmp_path, **{"jgz-dossier": {"base_url": httpserver.url_for("")}}),
        worker="in-process",
    )
    app = create_app(settings, store)
    with TestClient(app, headers=bearer(settings)) as client:
        assert app.state.worker._thread is not None
        intake(client, fresh(referral)[0])
        for _ in range(400):
            if Outbox(store).counts()["delivered"] == 1:
                break
            time.sleep(0.02)
    assert Outbox(store).counts()["delivered"] == 1 and len(log) == 1
    assert app.state.worker._thread is None  # stopped with the app


def test_without_peers_nothing_is_queued_and_no_worker_runs(
    store: Store, tmp_path: Path, referral: dict[str, Any]
) -> None:
    settings = Settings(data_dir=tmp_path, base_url="http://testserver")  # the defaults of `make run`
    assert settings.worker == "in-process" and settings.peers_file is None
    app = create_app(settings, store)
    with TestClient(app, headers=bearer(settings)) as client:
        flows = [f.name for f in app.state.ctx.exchange.active_flows]
        assert flows == ["subscriptions"] and app.state.worker is None  # no Subscription: nothing to do
        intake(client, fresh(referral)[0])
    assert Outbox(store).counts() == {"pending": 0, "delivered": 0, "dead": 0}


def test_settings_and_peers_file_are_checked(tmp_path: Path) -> None:
    env = {
        "VOORZORG_PEERS_FILE": str(tmp_path / "p.yaml"),
        "VOORZORG_WORKER": "off",
        "VOORZORG_OUTBOX_LEASE": "60",
    }
    s = Settings.from_env(env)
    assert s.peers_file == tmp_path / "p.yaml" and s.worker == "off" and s.outbox_lease == 60.0
    with pytest.raises(ValueError, match="VOORZORG_WORKER"):
        Settings.from_env({"VOORZORG_WORKER": "sometimes"})
    assert load_peers(tmp_path / "missing.yaml") == {}
    bad = peers_file(
        tmp_path,
        dossier={
            "base_url": "https://x",
            "auth": "smart-backend",
            "token_url": "https://x/t",
            "client_id": "me",
        },
    )
    with pytest.raises(ValueError, match="key_file"):
        load_peers(bad)
    ok = peers_file(
        tmp_path,
        dossier={
            "base_url": "https://x/fhir/",
            "auth": "smart-backend",
            "token_url": "https://x/t",
            "client_id": "me",
            "key_file": str(tmp_path / "k.pem"),
            "timeout": 5,
            "max_attempts": 4,
        },
    )
    peer = load_peers(ok)["dossier"]
    assert peer.base_url == "https://x/fhir" and peer.timeout == 5.0 and peer.max_attempts == 4


def test_peer_jwks_prints_the_public_key_to_register_at_the_peer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ok = peers_file(
        tmp_path,
        dossier={
            "base_url": "https://x",
            "auth": "smart-backend",
            "token_url": "https://x/t",
            "client_id": "me",
            "key_file": str(tmp_path / "k.pem"),
        },
    )
    monkeypatch.setenv("VOORZORG_PEERS_FILE", str(ok))
    assert main(["peer-jwks", "dossier"]) == 0
    out = capsys.readouterr().out
    assert '"kty": "EC"' in out and '"d"' not in out  # the public half only
    assert main(["peer-jwks", "nobody"]) == 2
