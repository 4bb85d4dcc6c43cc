"""Every ending reason reaches the peers once (issue #22), against a real FHIR server (Medplum standing in
for the JGZ dossier, the referral's sender and the regional OZKS exchange), on SQLite and PostgreSQL: the
unit of work that ends her programme queues one message per peer, each delivered once, and each peer ends
up with one copy that says she ended, when and why.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from adapter.api.app import create_app
from adapter.exchange.outbox import Outbox
from adapter.exchange.peers import load_peers
from adapter.exchange.worker import Worker
from adapter.mapping.ids import careplan_id, programme_id, referral_task_id
from adapter.store.engine import Store
from adapter.workflows.sharing import summary_id
from tests.api.test_sharing import _consent
from tests.conftest import FHIR_JSON_HEADERS, bearer
from tests.exchange.conftest import ADAPTER_ID, FAST, deliverer, drain, exchange_settings, peers_file, search
from tests.exchange.helpers import fresh, intake
from tests.path_helpers import ENDING_REASONS, code_of, ending, extension, intake_visit, parts, post_json
from tests.security.helpers import ORG_A

pytestmark = pytest.mark.node


def _app(store: Store, tmp_path: Path, base: str) -> tuple[TestClient, Worker]:
    peers = peers_file(
        tmp_path,
        **{
            "jgz-dossier": {"base_url": base, "retries": 0},
            "ozks": {"base_url": base, "retries": 0},
            "de-wieg": {"base_url": base, "organization": ORG_A, "retries": 0},
        },
    )
    settings = exchange_settings(tmp_path, peers)
    client = TestClient(create_app(settings, store), headers=bearer(settings))
    return client, deliverer(store, load_peers(peers), settings=FAST)


def _one(base: str, res_type: str, our_id: str) -> dict[str, Any]:
    found = search(base, res_type, identifier=f"{ADAPTER_ID}|{our_id}")
    assert len(found) == 1, f"{len(found)} copies of {res_type} {our_id} at the peer"
    return found[0]


@pytest.mark.parametrize("reason", ENDING_REASONS)
def test_every_ending_reason_reaches_the_dossier_the_sender_and_the_ozks_once(
    store: Store, tmp_path: Path, medplum: str, referral: dict[str, Any], reason: str
) -> None:
    client, worker = _app(store, tmp_path, medplum)
    body, _ = fresh(referral)
    made = intake(client, body)
    patient, rid = f"Patient/{made['Patient']['id']}", made["ServiceRequest"]["id"]
    r = client.post("/Consent", content=json.dumps(_consent(patient, True)), headers=FHIR_JSON_HEADERS)
    assert r.status_code == 201, r.text  # she agrees to the OZKS summary
    r = post_json(
        client, f"/ServiceRequest/{rid}/$intake-visit", intake_visit(patient, "2026-03-09", takes_part=True)
    )
    assert r.status_code == 200, r.text
    programme = parts(r.json())["programme"][0]
    drain(worker)
    before = max(m.id for m in Outbox(store).list(limit=1000)[1])

    r = post_json(
        client, f"/EpisodeOfCare/{programme['id']}/$end", ending(reason, "2026-10-01", f"Ended: {reason}")
    )
    assert r.status_code == 200, r.text
    drain(worker)

    ended = [m for m in Outbox(store).list(limit=1000)[1] if m.id > before]
    assert sorted((m.flow, m.peer, m.status) for m in ended) == [
        ("jgz-dossier", "jgz-dossier", "delivered"),
        ("obstetric-feedback", "de-wieg", "delivered"),
        ("ozks", "ozks", "delivered"),
    ]
    # the JGZ dossier: her programme, finished with the reason; her plan completed or revoked
    theirs = _one(medplum, "EpisodeOfCare", programme_id(rid))
    assert theirs["status"] == "finished" and theirs["period"]["end"] == "2026-10-01"
    assert code_of(extension(theirs, "ending-reason")[0]["valueCodeableConcept"]) == reason
    plan = _one(medplum, "CarePlan", careplan_id(rid))
    assert plan["status"] == ("completed" if reason == "completed" else "revoked")
    # the sender: its referral's Task completed, saying she ended and why
    task = _one(medplum, "Task", referral_task_id(rid))
    assert task["status"] == "completed" and code_of(task["businessStatus"]) == "ended"
    assert code_of(task["statusReason"]) == reason
    # the OZKS: her summary says the programme finished, and when
    summary = _one(medplum, "EpisodeOfCare", summary_id(patient))
    assert summary["status"] == "finished" and summary["period"] == {
        "start": "2026-03-09",
        "end": "2026-10-01",
    }
    assert "extension" not in summary  # the OZKS sees no reason: the summary stays minimal
