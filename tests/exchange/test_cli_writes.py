"""A change made from the command line has the same consequences as one made over HTTP: the same effects
run at the end of every unit of work, whatever the entry point (adapter/workflows/effects.py). With
real peers (Medplum as the JGZ dossier, the referral's sender and the OZKS), `voorzorg-adapter careplans
complete-due` queues the completed plan for the JGZ dossier, the completed Task for the sender and her
updated OZKS summary, exactly as a JGZ's `PUT /Task` queues its change; each change has its AuditEvent,
written with the change and naming who made it. Run on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from adapter.api.app import create_app
from adapter.cli import main
from adapter.exchange.outbox import Outbox
from adapter.exchange.peers import load_peers
from adapter.security.audit import AuditLog
from adapter.store.engine import Store
from adapter.workflows.sharing import summary_id
from tests.api.test_sharing import _consent
from tests.conftest import FHIR_JSON_HEADERS, bearer
from tests.exchange.conftest import (
    ADAPTER_ID,
    FAST,
    deliverer,
    drain,
    env_for,
    exchange_settings,
    peers_file,
    search,
)
from tests.exchange.helpers import fresh, intake
from tests.security.helpers import ORG_A, obstetric

pytestmark = pytest.mark.node


def _queued(store: Store) -> list[tuple[str, str, str]]:
    """(flow, peer, what it carries) of every pending message, in order."""
    return [
        (m.flow, m.peer, " ".join(sorted(m.summary()["entries"])))
        for m in Outbox(store).list(status="pending", limit=1000)[1]
    ]


def _records(store: Store, site: str) -> list[dict[str, Any]]:
    return [e for e in AuditLog(store).search(None, 1000, 0)[1] if e["source"]["site"] == site]


def test_complete_due_from_the_command_line_reaches_every_peer_as_an_http_change_would(
    store: Store, tmp_path: Path, medplum: str, referral: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    peers = peers_file(
        tmp_path,
        **{
            "jgz-dossier": {"base_url": medplum, "retries": 0},
            "de-wieg": {"base_url": medplum, "organization": ORG_A, "retries": 0},
            "ozks": {"base_url": medplum, "retries": 0},
        },
    )
    settings = exchange_settings(tmp_path, peers)
    app = create_app(settings, store)
    jgz = TestClient(app, headers=bearer(settings))
    # the worker on the composed store: its transfer records are keyed like every other record
    worker = deliverer(app.state.ctx.adapter.store, load_peers(peers), settings=FAST)
    made = intake(obstetric(app, settings), fresh(referral)[0])
    plan, task = made["CarePlan"], made["Task"]
    patient = plan["subject"]["reference"]
    r = jgz.post("/Consent", content=json.dumps(_consent(patient)), headers=FHIR_JSON_HEADERS)
    assert r.status_code == 201, r.text
    drain(worker)

    # over HTTP: the JGZ starts the programme; the change goes to the sender, and is recorded
    current = jgz.get(f"/Task/{task['id']}").json()
    r = jgz.put(
        f"/Task/{task['id']}",
        content=json.dumps({**current, "status": "in-progress"}),
        headers={**FHIR_JSON_HEADERS, "If-Match": f'W/"{current["meta"]["versionId"]}"'},
    )
    assert r.status_code == 200, r.text
    over_http = _queued(store)
    assert ("obstetric-feedback", "de-wieg", f"PUT Task/{task['id']}") in over_http
    [put] = _records(store, f"PUT /Task/{task['id']}")
    assert put["outcome"] == "0" and {"reference": f"Task/{task['id']}"} in [e["what"] for e in put["entity"]]
    drain(worker)

    # from the command line: the plan ends, and every peer hears of it
    for k, v in env_for(store, settings).items():
        monkeypatch.setenv(k, v)
    assert main(["careplans", "complete-due", "--date", "2031-01-01"]) == 0
    queued = _queued(store)
    summary = summary_id(patient)
    assert ("obstetric-feedback", "de-wieg", f"PUT Task/{task['id']}") in queued  # as over HTTP
    assert any(f == "jgz-dossier" and f"PUT CarePlan/{plan['id']}" in e for f, _, e in queued)
    assert ("ozks", "ozks", f"PUT EpisodeOfCare/{summary}") in queued
    [record] = _records(store, "voorzorg-adapter careplans complete-due")
    touched = [e["what"]["reference"] for e in record["entity"] if "what" in e]
    assert {f"CarePlan/{plan['id']}", f"Task/{task['id']}", patient} <= set(touched)
    assert record["outcome"] == "0" and record["subtype"][0]["code"] == "operation"
    assert record["agent"][0]["who"]["identifier"]["value"] == "voorzorg-adapter-cli"

    drain(worker)
    [at_dossier] = search(medplum, "CarePlan", identifier=f"{ADAPTER_ID}|{plan['id']}")
    assert at_dossier["status"] == "completed"
    [at_sender] = search(medplum, "Task", identifier=f"{ADAPTER_ID}|{task['id']}")
    assert at_sender["status"] == "completed"
    [at_ozks] = search(medplum, "EpisodeOfCare", identifier=f"{ADAPTER_ID}|{summary}")
    assert at_ozks["status"] == "finished"
    assert Outbox(store).counts()["dead"] == 0
    assert main(["audit", "verify"]) == 0
