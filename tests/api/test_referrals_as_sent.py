"""Referrals as obstetric systems send them: a forced framework is reported when there is one, never
"no forced framework" (referral contract v1, domain page §2). Forty referrals built to the contract over
the tracks, each sent without a forced-framework Observation, are decided on their track — not
`incomplete` — and the Parameters and the GuidanceResponse say that none was reported and that the nurse
confirms it at the intake visit. Anything else missing is still `incomplete`. SQLite and PostgreSQL.
"""

from __future__ import annotations

import copy
import itertools
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.helpers import (
    BSN_SYSTEM,
    CONSENT,
    EDD,
    FF,
    OWN_ITEM,
    PARITY,
    SPP,
    SR,
    VV,
    drop,
    one,
    params,
    post,
    resource,
)
from tests.exchange.helpers import fresh

REFERRAL_DATE = date(2026, 3, 2)
CONFIRM_EXT = "https://fhir.voorzorg.nl/StructureDefinition/voorzorg-confirm-at-intake"
NOT_REPORTED = (
    "No forced framework was reported, so none is known; the nurse confirms this at the intake visit."
)


def _variant(base: dict[str, Any], ga: int, parity: int, problems: bool, age: int) -> dict[str, Any]:
    b = copy.deepcopy(base)
    resource(b, EDD)["valueDateTime"] = (REFERRAL_DATE + timedelta(days=280 - ga)).isoformat()
    resource(b, PARITY)["valueInteger"] = parity
    resource(b, SPP)["valueBoolean"] = problems
    patient = next(e["resource"] for e in b["entry"] if e["resource"]["resourceType"] == "Patient")
    patient["birthDate"] = date(REFERRAL_DATE.year - age - 1, 9, 1).isoformat()
    return b


#: 40 referrals: GA (10, 20, 27+6, 30, 36 weeks) x parity 0/1 x problems yes/no x age 19/30
CASES = list(itertools.product((70, 140, 195, 210, 252), (0, 1), (True, False), (19, 30)))


@pytest.fixture
def sent(referral: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(as sent: without a forced-framework Observation, as it would be with one saying false)"""
    out = []
    for ga, parity, problems, age in CASES:
        with_ff, _ = fresh(_variant(referral, ga, parity, problems, age))
        without = copy.deepcopy(with_ff)
        drop(without, FF)
        out.append((without, with_ff))
    return out


def test_forty_referrals_without_a_forced_framework_are_decided_on_their_track(
    client: TestClient, sent: list[tuple[dict[str, Any], dict[str, Any]]]
) -> None:
    assert len(sent) == 40
    tracks = set()
    for without, with_ff in sent:
        r = post(client, without, "/$check-eligibility")
        assert r.status_code == 200, r.text
        got = params(r.json())
        expected = params(post(client, with_ff, "/$check-eligibility").json())
        assert got["track"] == expected["track"] and got["consultRequired"] == expected["consultRequired"]
        assert got.get("reason") == expected.get("reason") and "missing" not in got
        assert got["confirmAtIntake"] == [
            {"system": OWN_ITEM, "code": "forced-framework", "display": "(Ervaren) gedwongen kader"}
        ]
        assert "confirmAtIntake" not in expected
        assert got["explanation"][0] == f"{expected['explanation'][0]} {NOT_REPORTED}"
        tracks.add(got["track"][0]["code"])
    assert tracks == {"voorzorg", "voorzorg-2", "late-start", "consult"}


def test_intake_keeps_the_note_on_the_decision_and_moves_the_task_as_for_no_forced_framework(
    client: TestClient, referral: dict[str, Any]
) -> None:
    drop(referral, FF)
    r = post(client, referral)
    assert r.status_code == 200, r.text
    guidance, task = one(r.json(), "GuidanceResponse"), one(r.json(), "Task")
    assert task["status"] == "accepted"  # VoorZorg, no consult: the plan is made at once
    assert one(r.json(), "CarePlan")["status"] == "active"
    assert [e["valueCoding"]["code"] for e in guidance["extension"] if e["url"] == CONFIRM_EXT] == [
        "forced-framework"
    ]
    assert guidance["status"] == "success" and NOT_REPORTED in guidance["note"][0]["text"]
    decision = params(guidance["contained"][0])
    assert decision["confirmAtIntake"][0]["code"] == "forced-framework"


@pytest.mark.parametrize(("suffix", "item"), [(VV, "very vulnerable"), (CONSENT, "voluntary participation")])
def test_anything_else_missing_is_still_incomplete(
    client: TestClient, referral: dict[str, Any], suffix: str, item: str
) -> None:
    drop(referral, FF)
    drop(referral, suffix)
    got = params(post(client, referral, "/$check-eligibility").json())
    assert got["track"][0]["code"] == "incomplete"
    assert len(got["missing"]) == 1 and got["missing"][0].startswith(item)
    assert got["confirmAtIntake"][0]["code"] == "forced-framework"


def test_the_sent_referral_is_the_contract_minus_the_forced_framework(referral: dict[str, Any]) -> None:
    drop(referral, FF)
    codes = {
        c.get("code")
        for e in referral["entry"]
        for c in e["resource"].get("code", {}).get("coding", [])
        if e["resource"]["resourceType"] == "Observation"
    }
    assert "forced-framework" not in codes and "very-vulnerable-situation" in codes
    sr = resource(referral, SR)
    assert all("06" not in s["reference"][-2:] for s in sr["supportingInfo"])
    assert any(
        i["system"] == BSN_SYSTEM for e in referral["entry"] for i in e["resource"].get("identifier", [])
    )
