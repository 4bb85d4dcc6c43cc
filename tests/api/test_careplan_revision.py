"""A new decision on a referral (a consult's advice) revises its one care plan: records stay."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

from fastapi.testclient import TestClient

from adapter.domain.eligibility import Decision, Track
from adapter.mapping.careplan_out import KIND_EXT, activity_date, activity_sequence
from adapter.store.engine import Store
from adapter.workflows.careplan import revise_plan, stored_facts
from tests.api.test_careplan import _intake, _visit
from tests.conftest import FHIR_JSON_HEADERS


def _kinds(plan: dict[str, Any]) -> list[str]:
    return [
        e["valueCode"] for a in plan["activity"] for e in a["detail"]["extension"] if e["url"] == KIND_EXT
    ]


def test_stored_facts_are_the_facts_the_referral_carried(
    client: TestClient, store: Store, referral: dict[str, Any]
) -> None:
    sr = _intake(client, referral)["ServiceRequest"]
    with store.reading() as s:
        facts = stored_facts(s, sr["id"])
    assert facts.referral_date == date(2026, 3, 2)
    assert facts.estimated_delivery_date == date(2026, 8, 31)
    assert facts.mother_birth_date is not None and facts.very_vulnerable is True


def test_a_revision_keeps_recorded_visits_and_adds_evaluation_moments_to_the_same_plan(
    client: TestClient, store: Store, referral: dict[str, Any]
) -> None:
    out = _intake(client, referral)
    plan, sr = out["CarePlan"], out["ServiceRequest"]
    for seq, status in ((1, "finished"), (2, "cancelled")):
        r = client.post(
            "/Encounter", content=json.dumps(_visit(plan, seq, status, f"v-{seq}")), headers=FHIR_JSON_HEADERS
        )
        assert r.status_code == 201, r.text
    start = activity_date(plan["activity"][0])
    moments = [start + timedelta(days=90), start + timedelta(days=180)]
    store.write(
        lambda s: revise_plan(
            s, sr["id"], Decision(Track.VOORZORG_2), task_status="accepted", evaluation_moments=moments
        )
    )
    revised = client.get(f"/CarePlan/{plan['id']}").json()
    assert client.get(f"/CarePlan?patient={plan['subject']['reference']}").json()["total"] == 1
    assert revised["instantiatesCanonical"] == [
        "https://fhir.voorzorg.nl/PlanDefinition/voorzorg-plan-voorzorg-2"
    ]
    first, second = (next(a for a in revised["activity"] if activity_sequence(a) == n) for n in (1, 2))
    assert first["detail"]["status"] == "completed" and "outcomeReference" in first
    assert second["detail"]["status"] == "cancelled" and "outcomeReference" in second
    evaluations = [a for a in revised["activity"] if "evaluation" in json.dumps(a["detail"]["extension"])]
    assert [activity_date(a) for a in evaluations] == moments
    assert _kinds(revised).count("evaluation") == 2
    assert any("Revised from voorzorg to voorzorg-2" in n["text"] for n in revised.get("note", []))


def test_advice_not_to_start_revokes_the_plan(
    client: TestClient, store: Store, referral: dict[str, Any]
) -> None:
    out = _intake(client, referral)
    store.write(
        lambda s: revise_plan(
            s, out["ServiceRequest"]["id"], Decision(Track.NOT_ELIGIBLE), task_status="rejected"
        )
    )
    assert client.get(f"/CarePlan/{out['CarePlan']['id']}").json()["status"] == "revoked"
