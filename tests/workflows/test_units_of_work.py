"""Workflows on a real session, below the HTTP layer, on SQLite and PostgreSQL: what a unit of work
commits, and that its effects (OZKS summary, outbox rows, audit record) commit with it or not at all."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from adapter.composition import Adapter, compose
from adapter.config import Settings
from adapter.domain.eligibility import Track
from adapter.fhir.outcome import FhirError
from adapter.mapping.ids import careplan_id, guidance_id, referral_task_id
from adapter.mapping.referral_in import read_referral
from adapter.security.access import Viewer
from adapter.security.audit import Access, Actor
from adapter.security.principal import Principal
from adapter.security.senders import Sender
from adapter.store.engine import Store
from adapter.workflows.intake import receive_referral
from adapter.workflows.sharing import summary_id
from adapter.workflows.tasks import update_task
from tests.api.test_sharing import _consent

ORG_A = "http://fhir.nl/fhir/NamingSystem/agb-z|09012345"  # the example referral's requester
ORG_B = "http://fhir.nl/fhir/NamingSystem/agb-z|01111111"


@pytest.fixture
def adapter(store: Store, tmp_path: Path) -> Adapter:
    """The adapter composed on the test's database, with a JGZ dossier peer configured (never reached)."""
    peers = tmp_path / "peers.yaml"
    peers.write_text(yaml.safe_dump({"peers": {"jgz-dossier": {"base_url": "http://127.0.0.1:9"}}}))
    return compose(Settings(data_dir=tmp_path, base_url="http://testserver", peers_file=peers), store)


def _as(adapter: Adapter, organization: str | None, role: str = "obstetric") -> Store:
    who = Principal(client_id=f"test-{role}", role=role, organization=organization)
    return adapter.store.acting_for(
        Actor(who, Access(interaction="transaction"), "POST /", "http://testserver")
    )


def _counts(store: Store) -> dict[str, int]:
    with store.reading() as s:
        return {t: s.count(t) for t in ("Patient", "ServiceRequest", "Task", "CarePlan", "GuidanceResponse")}


def _audit_sites(adapter: Adapter) -> list[str]:
    return [e["source"]["site"] for e in adapter.audit.search(None, 100, 0)[1]]


def test_an_accepted_referral_commits_its_decision_task_plan_message_and_record_together(
    adapter: Adapter, referral: dict[str, Any]
) -> None:
    result = receive_referral(
        _as(adapter, ORG_A), read_referral(referral), Sender("own", ORG_A), adapter.deployment
    )
    sr = next(w for w in result.writes if w.stored.res_type == "ServiceRequest")
    rid = sr.stored.res_id
    assert result.decision.track is Track.VOORZORG
    assert (
        result.task.stored.res_id == referral_task_id(rid)
        and result.task.stored.content["status"] == "accepted"
    )
    assert result.guidance.stored.res_id == guidance_id(rid)
    assert result.careplan is not None and result.careplan.stored.res_id == careplan_id(rid)
    [message] = adapter.outbox.list()[1]  # the JGZ dossier flow: her plan, once it exists
    assert (message.flow, message.client) == ("jgz-dossier", result.patient_reference)
    assert "POST /" in _audit_sites(adapter)  # written with the change, naming the actor
    [record] = adapter.audit.search(result.patient_reference, 10, 0)[1]
    assert record["agent"][0]["who"]["identifier"]["value"] == "test-obstetric"
    with adapter.store.reading() as s:  # the sender has a part in what it sent, and only that
        assert s.has_access("ServiceRequest", rid, ORG_A) and not s.has_access("ServiceRequest", rid, ORG_B)


def test_a_sender_refused_stores_nothing_and_queues_nothing(
    adapter: Adapter, store: Store, referral: dict[str, Any]
) -> None:
    parsed = read_referral(referral)
    with pytest.raises(FhirError) as refused:  # B sends in A's name
        receive_referral(_as(adapter, ORG_B), parsed, Sender("own", ORG_B), adapter.deployment)
    assert refused.value.status == 403
    receive_referral(_as(adapter, ORG_A), parsed, Sender("own", ORG_A), adapter.deployment)
    before, queued = _counts(store), adapter.outbox.counts()
    records = len(_audit_sites(adapter))
    moved = copy.deepcopy(referral)  # A's resend claims a move that is the receiver's: refused inside
    for e in moved["entry"]:
        if e["resource"]["resourceType"] == "Task":
            e["resource"]["status"] = "completed"
    with pytest.raises(FhirError) as refused_inside:
        receive_referral(_as(adapter, ORG_A), read_referral(moved), Sender("own", ORG_A), adapter.deployment)
    assert refused_inside.value.status == 422
    assert _counts(store) == before and adapter.outbox.counts() == queued
    assert len(_audit_sites(adapter)) == records  # a unit of work rolled back leaves no record either


def test_a_referral_number_is_the_senders_own(
    adapter: Adapter, store: Store, referral: dict[str, Any]
) -> None:
    """B naming itself as requester with A's referral number sends a referral of its own: A's stays A's."""
    a = receive_referral(
        _as(adapter, ORG_A), read_referral(referral), Sender("own", ORG_A), adapter.deployment
    )
    taken = copy.deepcopy(referral)
    for e in taken["entry"]:
        if e["resource"]["resourceType"] == "Organization":
            e["resource"]["identifier"][0]["value"] = ORG_B.split("|")[1]
    b = receive_referral(_as(adapter, ORG_B), read_referral(taken), Sender("own", ORG_B), adapter.deployment)
    a_sr, b_sr = (next(w.stored for w in r.writes if w.stored.res_type == "ServiceRequest") for r in (a, b))
    assert a_sr.res_id != b_sr.res_id and a.patient_reference == b.patient_reference  # the same client
    with store.reading() as s:
        assert s.get("ServiceRequest", a_sr.res_id) == a_sr  # untouched
        assert not s.has_access("ServiceRequest", a_sr.res_id, ORG_B)
        assert s.organizations_with_access("ServiceRequest", b_sr.res_id) == [ORG_B]


def test_a_store_composed_without_effects_changes_data_and_nothing_else(
    adapter: Adapter, store: Store, referral: dict[str, Any]
) -> None:
    """The effects belong to the composed store: the bare one (migrations, set-up) has none."""
    receive_referral(store, read_referral(referral), Sender.trusted(), adapter.deployment)
    assert adapter.outbox.counts()["pending"] == 0 and _audit_sites(adapter) == []
    assert _counts(store)["CarePlan"] == 1


def test_a_task_update_follows_its_rules_for_whoever_may_see_it(
    adapter: Adapter, referral: dict[str, Any]
) -> None:
    made = receive_referral(
        _as(adapter, ORG_A), read_referral(referral), Sender("own", ORG_A), adapter.deployment
    )
    task = made.task.stored
    other = Viewer(Principal(client_id="b", role="obstetric", organization=ORG_B))
    jgz = Viewer(Principal(client_id="jgz", role="jgz", organization=None))
    started = {**task.content, "status": "in-progress"}
    with pytest.raises(FhirError) as hidden:  # another practice: as if it did not exist
        update_task(adapter.store, other, task.res_id, started, task.version_id)
    assert hidden.value.status == 404
    with pytest.raises(FhirError) as stale:
        update_task(adapter.store, jgz, task.res_id, started, task.version_id + 5)
    assert stale.value.status == 412
    with pytest.raises(FhirError) as backwards:
        update_task(adapter.store, jgz, task.res_id, {**task.content, "status": "draft"}, None)
    assert backwards.value.status == 409
    done = update_task(adapter.store, jgz, task.res_id, started, task.version_id)
    assert done.task.content["status"] == "in-progress" and done.task.version_id == task.version_id + 1


def test_her_ozks_summary_exists_exactly_while_she_consents(
    adapter: Adapter, referral: dict[str, Any]
) -> None:
    made = receive_referral(adapter.store, read_referral(referral), Sender.trusted(), adapter.deployment)
    patient = made.patient_reference
    consent = {**_consent(patient), "id": "c1"}
    adapter.store.write(lambda s: s.put(consent))
    with adapter.store.reading() as s:
        summary = s.live(f"EpisodeOfCare/{summary_id(patient)}")
    assert summary is not None and summary.content["patient"]["reference"] == patient
    adapter.store.write(lambda s: s.put({**consent, "status": "inactive"}))
    with adapter.store.reading() as s:
        assert s.live(f"EpisodeOfCare/{summary_id(patient)}") is None
