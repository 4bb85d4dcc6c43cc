"""Flow registration: the monitoring's MeasureReports, kept by `voorzorg-adapter report --send` (or
--store), go through the outbox to the regional registration (Medplum standing in for it, behind a proxy
that records every request): one message per measure, ordered by the Measure instead of a client,
delivered once, the body the external report with its small numbers masked; made again, the same report
is updated there (one copy); nothing is queued without the peer, and an internal report never goes.
SQLite and PostgreSQL."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pytest_httpserver import HTTPServer

from adapter.cli import main
from adapter.composition import compose
from adapter.config import PROJECT_ROOT, Settings
from adapter.exchange.outbox import Outbox
from adapter.exchange.peers import load_peers
from adapter.exchange.routing import load_flows
from adapter.security.audit import AuditLog
from adapter.store.engine import Store
from bench.region import generate_region
from tests.exchange.conftest import ADAPTER_ID, FAST, deliverer, drain, peers_file, search
from tests.exchange.helpers import Proxy

MEASURE = "voorzorg-reach"
REPORT_ID = f"{MEASURE}-external-2026-01-01-2026-12-31"
MASKED = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"
REPORT = ["report", "--period", "2026", "--measure", MEASURE, "--format", "csv"]


@pytest.fixture
def region(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    """A small generated region in `store`, which `voorzorg-adapter` commands use (no peers yet)."""
    monkeypatch.setenv("VOORZORG_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("VOORZORG_DATABASE_URL", store.url)
    monkeypatch.setenv("VOORZORG_WORKER", "off")
    for name in ("VOORZORG_REPORT_AUDIENCE", "VOORZORG_PEERS_FILE"):
        monkeypatch.delenv(name, raising=False)
    adapter = compose(Settings.from_env())
    generate_region(adapter.store, 40, seed=3)
    adapter.close()
    yield store


@pytest.fixture
def registration(
    region: Store, tmp_path: Path, medplum: str, httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> Proxy:
    """The peer `registration` configured: Medplum behind a proxy that records what it gets."""
    proxy = Proxy(medplum)
    httpserver.expect_request(re.compile(".*")).respond_with_handler(proxy)
    path = peers_file(tmp_path, registration={"base_url": httpserver.url_for("").rstrip("/"), "retries": 0})
    monkeypatch.setenv("VOORZORG_PEERS_FILE", str(path))
    return proxy


def _messages(store: Store) -> list[Any]:
    return Outbox(store).list()[1]


def _counts(value: Any) -> list[Any]:
    """Every population and stratum `count` of a report, and every `_count` (a masked one)."""
    if isinstance(value, list):
        return [c for v in value for c in _counts(v)]
    if not isinstance(value, dict):
        return []
    own = [value[k] for k in ("count", "_count") if k in value]
    return own + [c for k, v in value.items() if k not in ("count", "_count") for c in _counts(v)]


def _deliver(store: Store) -> None:
    drain(deliverer(store, load_peers(Path(Settings.from_env().peers_file or "")), settings=FAST))


@pytest.mark.node
def test_a_sent_report_is_queued_per_measure_delivered_once_masked_and_updated_when_sent_again(
    registration: Proxy, region: Store, medplum: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*REPORT, "--send"]) == 0
    assert "1 MeasureReports kept; what changed is queued for registration" in capsys.readouterr().err
    [queued] = _messages(region)
    assert (queued.flow, queued.peer, queued.kind, queued.status) == (
        "registration",
        "registration",
        "transaction",
        "pending",
    )
    assert queued.client == f"Measure/{MEASURE}" and queued.patient is None  # ordered by its Measure
    assert queued.summary()["entries"] == [f"PUT MeasureReport/{REPORT_ID}"]

    _deliver(region)
    [sent] = _messages(region)
    assert (sent.status, sent.attempts) == ("delivered", 1)
    # one try of one message: a transaction with the report (and, when an earlier test's copy is already
    # there — the peer lives for the whole session — ours applied over it with If-Match)
    assert {rid for rid, _ in registration.seen} == {f"voorzorg-outbox-{sent.id}-1"}
    bundle = registration.seen[0][1]
    [entry] = bundle["entry"]
    body = entry["resource"]
    assert body["resourceType"] == "MeasureReport" and body["measure"].endswith(f"/Measure/{MEASURE}")
    assert body["extension"][0]["valueCode"] == "external"
    counts = _counts(body["group"])
    masked = [c for c in counts if isinstance(c, dict)]
    assert masked and all(e["url"] == MASKED for c in masked for e in c["extension"][:1])
    assert not [c for c in counts if isinstance(c, int) and 0 < c < 10]  # no small number leaves
    [theirs] = search(medplum, "MeasureReport", identifier=f"{ADAPTER_ID}|{REPORT_ID}")
    assert theirs["group"] == body["group"]

    _, events = AuditLog(region).search(None, 100, 0)
    [transfer] = [e for e in events if e.get("subtype", [{}])[0].get("code") == "transfer-out"]
    assert transfer["outcome"] == "0"
    assert f"Measure/{MEASURE}" in [e.get("what", {}).get("reference") for e in transfer["entity"]]
    assert all(e.get("role", {}).get("code") != "1" for e in transfer["entity"])  # names no client

    time.sleep(1.1)  # made a second later: its `date` differs (unchanged, it would not be written again)
    assert main([*REPORT, "--send"]) == 0  # the same period again: the same report, a new version
    assert [m.status for m in _messages(region)] == ["delivered", "pending"]
    _deliver(region)
    assert [m.status for m in _messages(region)] == ["delivered"] * 2
    assert registration.seen[-1][0] == f"voorzorg-outbox-{_messages(region)[1].id}-1"
    [again] = search(medplum, "MeasureReport", identifier=f"{ADAPTER_ID}|{REPORT_ID}")
    assert again["id"] == theirs["id"] and again["meta"]["versionId"] != theirs["meta"]["versionId"]
    with region.reading() as s:
        assert s.count("MeasureReport") == 1
        kept = s.get("MeasureReport", REPORT_ID)
        assert kept is not None and kept.version_id == 2


def test_without_the_peer_nothing_is_queued_and_send_refuses(
    region: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*REPORT, "--audience", "external", "--store"]) == 0
    assert _messages(region) == []
    assert main([*REPORT, "--send"]) == 2
    assert "no peer is configured for MeasureReports" in capsys.readouterr().err
    with region.reading() as s:
        assert s.count("MeasureReport") == 1  # the one kept with --store, not sent


@pytest.mark.node
def test_an_internal_report_is_never_sent(
    registration: Proxy, region: Store, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*REPORT, "--store"]) == 0  # internal (the default audience): kept, not queued
    assert main([*REPORT, "--audience", "internal", "--send"]) == 2
    assert "--audience external only" in capsys.readouterr().err
    with region.reading() as s:
        assert s.count("MeasureReport") == 1
        assert s.get("MeasureReport", f"{MEASURE}-internal-2026-01-01-2026-12-31") is not None
    assert _messages(region) == []

    monkeypatch.setenv("VOORZORG_REPORT_AUDIENCE", "internal")
    assert main([*REPORT, "--send"]) == 0  # --send makes it external, whatever the default
    assert [m.summary()["entries"] for m in _messages(region)] == [[f"PUT MeasureReport/{REPORT_ID}"]]
    _deliver(region)
    [sent] = _messages(region)
    assert sent.status == "delivered" and {r for r, _ in registration.seen} == {
        f"voorzorg-outbox-{sent.id}-1"
    }


def test_a_report_about_a_client_is_not_for_the_registration_and_the_flow_names_no_client(
    region: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "VOORZORG_PEERS_FILE", str(peers_file(tmp_path, registration={"base_url": "http://x"}))
    )
    adapter = compose(Settings.from_env())
    audience = {"url": "https://fhir.voorzorg.nl/StructureDefinition/voorzorg-report-audience"}
    report = {
        "resourceType": "MeasureReport",
        "id": "hers",
        "extension": [{**audience, "valueCode": "external"}],
        "status": "complete",
        "type": "individual",
        "measure": f"https://fhir.voorzorg.nl/Measure/{MEASURE}",
        "subject": {"reference": "Patient/someone"},
        "period": {"start": "2026-01-01", "end": "2026-12-31"},
    }
    adapter.operator("tests").write(lambda s: s.put(report))
    adapter.close()
    assert _messages(region) == []

    flow = {"peer": "registration", "ordered_by": "measure", "resources": [{"type": "MeasureReport"}]}
    with pytest.raises(ValueError, match="ordered_by"):
        load_flows({"flows": {"bad": {**flow, "consent": "jgz-dossier"}}})
    [loaded] = load_flows({"flows": {"registration": flow}})
    assert not loaded.include_client  # no client travels with a report
    raw = yaml.safe_load((PROJECT_ROOT / "mappings" / "exchange.yaml").read_text(encoding="utf-8"))
    assert raw["flows"]["registration"]["resources"][0]["extension"]["valueCode"] == "external"
