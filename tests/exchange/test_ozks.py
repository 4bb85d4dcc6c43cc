"""Flow OZKS against a real FHIR server (Medplum, tests/exchange/peer): her minimal summary arrives while
she consents — naming her by BSN only, no Patient, none of our ids for her — is updated, and is deleted at
the OZKS when she withdraws; a summary queued but not yet sent when she withdraws is never sent. Run on
SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pytest_httpserver import HTTPServer

from adapter.api.app import create_app
from adapter.exchange.outbox import Outbox
from adapter.exchange.peers import load_peers
from adapter.exchange.worker import Worker
from adapter.store.engine import Store
from adapter.workflows.sharing import summary_id
from tests.api.test_careplan import _visit
from tests.api.test_sharing import _consent
from tests.conftest import FHIR_JSON_HEADERS, bearer
from tests.exchange.conftest import (
    ADAPTER_ID,
    BSN_SYSTEM,
    FAST,
    deliverer,
    drain,
    exchange_settings,
    peers_file,
    search,
)
from tests.exchange.helpers import Proxy, fresh, intake

pytestmark = pytest.mark.node


def _app(store: Store, tmp_path: Path, base: str) -> tuple[TestClient, Worker]:
    settings = exchange_settings(tmp_path, peers_file(tmp_path, ozks={"base_url": base, "retries": 0}))
    client = TestClient(create_app(settings, store), headers=bearer(settings))
    return client, deliverer(store, load_peers(settings.peers_file), settings=FAST)


def _consents(client: TestClient, patient: str, permit: bool = True) -> dict[str, Any]:
    r = client.post("/Consent", content=json.dumps(_consent(patient, permit)), headers=FHIR_JSON_HEADERS)
    assert r.status_code in (200, 201), r.text
    body: dict[str, Any] = r.json()
    return body


def _withdraws(client: TestClient, consent: dict[str, Any]) -> None:
    r = client.put(
        f"/Consent/{consent['id']}",
        content=json.dumps({**consent, "status": "inactive"}),
        headers={**FHIR_JSON_HEADERS, "If-Match": f'W/"{consent["meta"]["versionId"]}"'},
    )
    assert r.status_code == 200, r.text


def _summaries(base: str, patient: str) -> list[dict[str, Any]]:
    return search(base, "EpisodeOfCare", identifier=f"{ADAPTER_ID}|{summary_id(patient)}")


def test_the_summary_arrives_while_she_consents_and_is_deleted_at_the_ozks_when_she_withdraws(
    store: Store, tmp_path: Path, medplum: str, referral: dict[str, Any]
) -> None:
    client, worker = _app(store, tmp_path, medplum)
    body, bsn = fresh(referral)
    made = intake(client, body)
    patient = made["CarePlan"]["subject"]["reference"]
    assert Outbox(store).counts()["pending"] == 0  # no consent: nothing for the OZKS

    consent = _consents(client, patient)
    queued = Outbox(store).list(status="pending")[1]
    assert [(m.flow, m.peer) for m in queued] == [("ozks", "ozks")]
    assert queued[0].summary()["entries"] == [f"PUT EpisodeOfCare/{summary_id(patient)}"]  # no Patient
    drain(worker)

    [summary] = _summaries(medplum, patient)
    assert summary["status"] == "active" and summary["type"][0]["coding"][0]["code"] == "voorzorg"
    # her: a logical reference by BSN; neither a Patient at the OZKS nor our id for her anywhere
    assert summary["patient"] == {"type": "Patient", "identifier": {"system": BSN_SYSTEM, "value": bsn}}
    assert search(medplum, "Patient", identifier=f"{BSN_SYSTEM}|{bsn}") == []
    assert patient.split("/")[1] not in json.dumps(summary)

    # a home visit by the nurse: the summary at the OZKS names whom to contact, still one copy
    visit = _visit(made["CarePlan"], 1, ident=f"v-{bsn}") | {
        "participant": [{"individual": {"reference": "Practitioner/nurse-1", "display": "Anna de Vries"}}]
    }
    r = client.post("/Encounter", content=json.dumps(visit), headers=FHIR_JSON_HEADERS)
    assert r.status_code in (200, 201), r.text
    drain(worker)
    [summary] = _summaries(medplum, patient)
    assert summary["careManager"]["display"] == "Anna de Vries"

    _withdraws(client, consent)
    drain(worker)
    assert _summaries(medplum, patient) == []  # deleted at the OZKS
    counts = Outbox(store).counts()
    assert counts["dead"] == 0 and counts["pending"] == 0


def test_a_summary_queued_but_not_sent_when_she_withdraws_is_never_sent(
    store: Store, tmp_path: Path, medplum: str, referral: dict[str, Any], httpserver: HTTPServer
) -> None:
    proxy = Proxy(medplum)  # the OZKS, recording every request it gets
    httpserver.expect_request(re.compile(".*")).respond_with_handler(proxy)
    client, worker = _app(store, tmp_path, httpserver.url_for("").rstrip("/"))
    body, _ = fresh(referral)
    patient = intake(client, body)["CarePlan"]["subject"]["reference"]

    consent = _consents(client, patient)  # queued ...
    _withdraws(client, consent)  # ... and withdrawn before any worker ran: at once
    _, messages = Outbox(store).list()
    assert [(m.status, m.summary()["entries"]) for m in messages] == [
        ("superseded", [f"PUT EpisodeOfCare/{summary_id(patient)}"]),
        ("pending", [f"DELETE EpisodeOfCare/{summary_id(patient)}"]),
    ]
    assert messages[0].last_error == "not sent: her consent no longer permits ozks-summary"
    drain(worker)

    sent = [entry for _, bundle in proxy.seen for entry in bundle.get("entry", [])]
    assert sent and all(e["request"]["method"] == "DELETE" and "resource" not in e for e in sent)
    assert _summaries(medplum, patient) == []
    assert Outbox(store).counts() == {"pending": 0, "delivered": 1, "dead": 0, "superseded": 1}

    # she consents again: shared again, once
    _consents(client, patient)
    drain(worker)
    assert len(_summaries(medplum, patient)) == 1
