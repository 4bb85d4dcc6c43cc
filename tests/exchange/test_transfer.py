"""Moving to another region (issue #22, domain page §7): two adapter instances, each on its own database
(SQLite files or PostgreSQL schemas), with real HTTP between them (the receiving one is served by uvicorn;
the sending one's outbox worker posts to it, authenticated with SMART Backend Services as a client the
receiver registered). With her consent, her programme is handed over warmly: the JGZ of her new region
takes her in as an ongoing client — no new eligibility decision, the plan goes on, the visits done stay
done — and her programme ends here with reason moved. Without her consent nothing is stored or queued.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from fastapi.testclient import TestClient

from adapter.api.app import create_app
from adapter.config import Settings
from adapter.exchange.outbox import Outbox
from adapter.security.tokens import IssuerKey
from adapter.store.engine import Store
from tests.api.bodies import sharing_consent
from tests.api.helpers import path_status, task_track
from tests.api.test_careplan import _visit
from tests.conftest import FHIR_JSON_HEADERS, bearer, postgres_store
from tests.exchange.conftest import FAST, drain, exchange_settings, peers_file
from tests.live import LiveServer
from tests.path_helpers import code_of, extension, intake, intake_visit, parts, phases, post_json, versions

ZUID = "http://fhir.nl/fhir/NamingSystem/ura|00000000"  # the JGZ she leaves (instance A)
NOORD = "http://fhir.nl/fhir/NamingSystem/ura|00008888"  # the JGZ of her new region (instance B)
BSN_SYSTEM = "http://fhir.nl/fhir/NamingSystem/bsn"


@pytest.fixture
def other_store(store: Store, tmp_path: Path) -> Iterator[Store]:
    """Instance B's own database, on the same backend as instance A's."""
    if store.is_sqlite:
        b = Store(f"sqlite:///{tmp_path / 'noord' / 'voorzorg.db'}")
        b.migrate()
        yield b
        b.dispose()
    else:
        yield from postgres_store()


@pytest.fixture
def regions(
    store: Store, other_store: Store, tmp_path: Path
) -> Iterator[tuple[TestClient, Any, LiveServer, Settings]]:
    """(A's client, A's adapter, B's live server, B's settings)."""
    key_file = tmp_path / "zuid-peer-key.pem"
    jwks = IssuerKey(key_file).jwks()
    b_dir = tmp_path / "noord"
    b_dir.mkdir(exist_ok=True)
    clients = b_dir / "clients.yaml"
    clients.write_text(
        yaml.safe_dump(
            {
                "clients": {
                    "jgz-zuid": {"role": "jgz", "organization": ZUID, "scope": "system/*.cruds", "jwks": jwks}
                }
            }
        ),
        encoding="utf-8",
    )
    b_settings = Settings(data_dir=b_dir, organization=NOORD, clients_file=clients, worker="off")
    server = LiveServer(
        app_factory=lambda url: create_app(replace(b_settings, base_url=url), other_store)
    ).start()
    b_settings = replace(b_settings, base_url=server.url)
    peers = peers_file(
        tmp_path,
        **{
            "jgz-noord": {
                "base_url": server.url,
                "auth": "smart-backend",
                "token_url": f"{server.url}/auth/token",
                "client_id": "jgz-zuid",
                "scope": "system/*.cruds",
                "key_file": str(key_file),
                "organization": NOORD,
            }
        },
    )
    a_app = create_app(exchange_settings(tmp_path, peers), store)
    a = TestClient(a_app, headers=bearer(exchange_settings(tmp_path, peers)))
    try:
        yield a, a_app.state.ctx.adapter, server, b_settings
    finally:
        server.stop()


def _b(server: LiveServer, settings: Settings, path: str, **params: str) -> dict[str, Any]:
    r = requests.get(f"{server.url}{path}", params=params, headers=bearer(settings), timeout=10)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _consent(patient: str, recipient: str = "jgz-transfer", permit: bool = True) -> dict[str, Any]:
    return sharing_consent(patient, permit=permit, recipient=recipient, when="2026-05-01")


def _transfer(consent: str | None, destination: str = NOORD, on: str = "2026-05-04") -> dict[str, Any]:
    system, _, value = destination.partition("|")
    params: list[dict[str, Any]] = [
        {"name": "destination", "valueIdentifier": {"system": system, "value": value}},
        {"name": "date", "valueDate": on},
    ]
    if consent is not None:
        params.append({"name": "consent", "valueReference": {"reference": consent}})
    return {"resourceType": "Parameters", "parameter": params}


def _enrolled_with_visits(
    a: TestClient, referral: dict[str, Any]
) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    out = intake(a, referral)
    patient = f"Patient/{out['Patient']['id']}"
    r = post_json(
        a,
        f"/ServiceRequest/{out['ServiceRequest']['id']}/$intake-visit",
        intake_visit(patient, "2026-03-02", takes_part=True),
    )
    assert r.status_code == 200, r.text
    programme = parts(r.json())["programme"][0]
    for seq in (2, 3, 4):  # three more visits done
        assert post_json(a, "/Encounter", _visit(out["CarePlan"], seq, ident=f"v-{seq}")).status_code == 201
    return out, programme


def test_her_programme_moves_with_her_and_goes_on_in_the_new_region(
    regions: Any, referral: dict[str, Any]
) -> None:
    a, adapter, b, b_settings = regions
    out, programme = _enrolled_with_visits(a, referral)
    patient = f"Patient/{out['Patient']['id']}"
    r = post_json(a, "/Consent", _consent(patient))
    assert r.status_code == 201, r.text
    r = post_json(a, f"/EpisodeOfCare/{programme['id']}/$transfer", _transfer(f"Consent/{r.json()['id']}"))
    assert r.status_code == 200, r.text
    moved = parts({"parameter": [p for p in r.json()["parameter"] if "resource" in p]})["programme"][0]
    assert (
        moved["status"] == "finished"
        and code_of(extension(moved, "ending-reason")[0]["valueCodeableConcept"]) == "moved"
    )
    assert moved["period"] == {"start": "2026-03-02", "end": "2026-05-04"}
    assert a.get(f"/CarePlan/{out['CarePlan']['id']}").json()["status"] == "revoked"
    assert path_status(a.get(f"/Task/{out['Task']['id']}").json()) == "ended"

    drain(adapter.worker(settings=FAST))  # A's outbox: the handover over real HTTP to B
    sent = [m for m in Outbox(adapter.store).list(limit=100)[1] if m.flow == "jgz-transfer"]
    assert [(m.peer, m.status) for m in sent] == [("jgz-noord", "delivered")]

    # B: one client, found by her BSN, an ongoing client
    found = _b(b, b_settings, "/Patient", identifier=f"{BSN_SYSTEM}|999911120")
    assert found["total"] == 1
    her = f"Patient/{found['entry'][0]['resource']['id']}"
    [theirs] = [e["resource"] for e in _b(b, b_settings, "/EpisodeOfCare", patient=her)["entry"]]
    assert theirs["status"] == "active" and theirs["period"] == {
        "start": "2026-03-02"
    }  # enrolled then, not now
    assert theirs["managingOrganization"]["identifier"]["value"] == "00008888"
    assert extension(theirs, "gestational-age-at-enrolment")[0]["valueInteger"] == 98
    assert phases(theirs)[0] == ("pregnancy", "2026-03-02", "2026-08-30")
    [task] = [e["resource"] for e in _b(b, b_settings, "/Task", patient=her)["entry"]]
    assert (task["status"], path_status(task), task_track(task)) == ("in-progress", "enrolled", "voorzorg")
    # no new eligibility decision: the one made at A travelled with her, as it was
    [decision] = [e["resource"] for e in _b(b, b_settings, "/GuidanceResponse", patient=her)["entry"]]
    assert decision["contained"] == out["GuidanceResponse"]["contained"]
    [plan] = [e["resource"] for e in _b(b, b_settings, "/CarePlan", patient=her)["entry"]]
    done = [a_["detail"]["status"] for a_ in plan["activity"]]
    assert plan["status"] == "active" and done[:5] == ["completed"] * 4 + ["not-started"]
    assert len(plan["activity"]) == len(out["CarePlan"]["activity"])
    assert _b(b, b_settings, "/Encounter", patient=her)["total"] == 4  # the intake and three visits

    # the plan goes on at B: the next visit is recorded against it
    visit = _visit(plan, 5, ident="noord-5")
    r = requests.post(
        f"{b.url}/Encounter",
        data=json.dumps(visit),
        headers={**FHIR_JSON_HEADERS, **bearer(b_settings)},
        timeout=10,
    )
    assert r.status_code == 201, r.text
    after = _b(b, b_settings, f"/CarePlan/{plan['id']}")
    assert after["activity"][4]["detail"]["status"] == "completed"


def test_the_same_handover_delivered_again_changes_nothing(regions: Any, referral: dict[str, Any]) -> None:
    a, adapter, b, b_settings = regions
    out, programme = _enrolled_with_visits(a, referral)
    patient = f"Patient/{out['Patient']['id']}"
    consent = post_json(a, "/Consent", _consent(patient)).json()["id"]
    assert (
        post_json(
            a, f"/EpisodeOfCare/{programme['id']}/$transfer", _transfer(f"Consent/{consent}")
        ).status_code
        == 200
    )
    drain(adapter.worker(settings=FAST))
    [message] = [m for m in Outbox(adapter.store).list(limit=100)[1] if m.flow == "jgz-transfer"]
    found = _b(b, b_settings, "/Patient", identifier=f"{BSN_SYSTEM}|999911120")
    her = f"Patient/{found['entry'][0]['resource']['id']}"
    [theirs] = [e["resource"] for e in _b(b, b_settings, "/EpisodeOfCare", patient=her)["entry"]]
    [plan] = [e["resource"] for e in _b(b, b_settings, "/CarePlan", patient=her)["entry"]]
    r = requests.post(
        f"{b.url}/$process-message",
        data=json.dumps(message.payload["bundle"]),
        headers={**FHIR_JSON_HEADERS, **bearer(b_settings, organization=ZUID)},
        timeout=10,
    )
    assert r.status_code == 200, r.text  # taken in before: the same programme, nothing changed
    assert r.json()["entry"][0]["resource"]["response"]["code"] == "ok"
    assert (
        _b(b, b_settings, f"/EpisodeOfCare/{theirs['id']}")["meta"]["versionId"]
        == theirs["meta"]["versionId"]
    )
    assert _b(b, b_settings, f"/CarePlan/{plan['id']}")["meta"]["versionId"] == plan["meta"]["versionId"]
    assert _b(b, b_settings, "/Patient", identifier=f"{BSN_SYSTEM}|999911120")["total"] == 1


@pytest.mark.parametrize(
    ("consent", "expression"),
    [
        (None, "Parameters.parameter[consent]"),
        ("ozks-summary", "Parameters.parameter[consent]"),
        ("denied", "Parameters.parameter[consent]"),
    ],
    ids=["no-consent", "consent-for-something-else", "she-said-no"],
)
def test_a_transfer_without_her_consent_is_refused_and_nothing_is_stored_or_queued(
    regions: Any, referral: dict[str, Any], consent: str | None, expression: str
) -> None:
    a, adapter, _, _ = regions
    out, programme = _enrolled_with_visits(a, referral)
    patient = f"Patient/{out['Patient']['id']}"
    ref = None
    if consent is not None:
        body = (
            _consent(patient, "jgz-transfer", permit=False)
            if consent == "denied"
            else _consent(patient, consent)
        )
        ref = f"Consent/{post_json(a, '/Consent', body).json()['id']}"
    refs = [
        f"EpisodeOfCare/{programme['id']}",
        f"Task/{out['Task']['id']}",
        f"CarePlan/{out['CarePlan']['id']}",
    ]
    seen = versions(a, *refs)
    queued = Outbox(adapter.store).counts()
    r = post_json(a, f"/EpisodeOfCare/{programme['id']}/$transfer", _transfer(ref))
    assert r.status_code == 422, r.text
    assert r.json()["issue"][0]["expression"] == [expression]
    assert versions(a, *refs) == seen
    assert Outbox(adapter.store).counts() == queued


def test_a_transfer_to_an_organisation_without_a_peer_is_refused(
    regions: Any, referral: dict[str, Any]
) -> None:
    a, _, _, _ = regions
    out, programme = _enrolled_with_visits(a, referral)
    consent = post_json(a, "/Consent", _consent(f"Patient/{out['Patient']['id']}")).json()["id"]
    for destination in ("http://fhir.nl/fhir/NamingSystem/ura|00007777", ZUID):
        r = post_json(
            a, f"/EpisodeOfCare/{programme['id']}/$transfer", _transfer(f"Consent/{consent}", destination)
        )
        assert r.status_code == 422 and r.json()["issue"][0]["expression"] == [
            "Parameters.parameter[destination]"
        ]


def _queued_transfer(a: TestClient, adapter: Any, referral: dict[str, Any]) -> dict[str, Any]:
    """The transfer message A queued for B: her consent, then `$transfer` (not yet delivered)."""
    out, programme = _enrolled_with_visits(a, referral)
    consent = post_json(a, "/Consent", _consent(f"Patient/{out['Patient']['id']}")).json()["id"]
    post_json(a, f"/EpisodeOfCare/{programme['id']}/$transfer", _transfer(f"Consent/{consent}"))
    [message] = [m for m in Outbox(adapter.store).list(limit=100)[1] if m.flow == "jgz-transfer"]
    bundle: dict[str, Any] = message.payload["bundle"]
    return bundle


def _offer(b: LiveServer, b_settings: Settings, bundle: dict[str, Any]) -> requests.Response:
    """B's `$process-message` as A's delivery would call it."""
    return requests.post(
        f"{b.url}/$process-message",
        data=json.dumps(bundle),
        headers={**FHIR_JSON_HEADERS, **bearer(b_settings)},
        timeout=10,
    )


def test_a_message_for_another_organisation_is_refused_by_the_receiver(
    regions: Any, referral: dict[str, Any]
) -> None:
    a, adapter, b, b_settings = regions
    bundle = _queued_transfer(a, adapter, referral)
    bundle["entry"][0]["resource"]["destination"][0]["receiver"]["identifier"]["value"] = "00007777"
    r = _offer(b, b_settings, bundle)
    assert r.status_code == 422, r.text
    assert r.json()["issue"][0]["expression"] == ["Bundle.entry[0].resource.destination[0].receiver"]
    assert _b(b, b_settings, "/Patient")["total"] == 0


def test_a_message_carrying_a_plan_that_breaks_its_profile_is_refused(
    regions: Any, referral: dict[str, Any]
) -> None:
    a, adapter, b, b_settings = regions
    bundle = _queued_transfer(a, adapter, referral)
    i, plan = next(
        (i, e["resource"])
        for i, e in enumerate(bundle["entry"])
        if e["resource"]["resourceType"] == "CarePlan"
    )
    plan["intent"] = "proposal"
    r = _offer(b, b_settings, bundle)
    assert r.status_code == 422, r.text
    assert f"Bundle.entry[{i}].resource.intent" in [
        x for issue in r.json()["issue"] for x in issue.get("expression", [])
    ]
    assert _b(b, b_settings, "/Patient")["total"] == 0
