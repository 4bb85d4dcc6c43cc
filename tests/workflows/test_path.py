"""Which referral a change is about (the programme follows it), and where the effect runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from adapter.config import Settings
from adapter.exchange.runtime import Exchange
from adapter.mapping.ids import referral_task_id
from adapter.store.session import Stored
from adapter.workflows.effects import every_change
from adapter.workflows.programme import FollowPath, referral_of
from adapter.workflows.sharing import KeepOzksSummary

RID = "0b8e6a52-3c1e-4f5e-8a59-0d5a1d2c9f11"
ITEM = "https://fhir.voorzorg.nl/CodeSystem/voorzorg-referral-item"


def _stored(res_type: str, res_id: str = "x", **content: Any) -> Stored:
    return Stored(
        res_type,
        res_id,
        1,
        "2026-03-02T00:00:00Z",
        False,
        {"resourceType": res_type, "id": res_id, **content},
    )


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        (
            _stored("ServiceRequest", RID, code={"coding": [{"system": ITEM, "code": "voorzorg-referral"}]}),
            RID,
        ),
        (
            _stored(
                "ServiceRequest",
                "c",
                code={"coding": [{"system": ITEM, "code": "voorzorg-consult-request"}]},
                basedOn=[{"reference": f"ServiceRequest/{RID}"}],
            ),
            RID,
        ),
        (_stored("Task", referral_task_id(RID), focus={"reference": f"ServiceRequest/{RID}"}), RID),
        (
            _stored(
                "Task",
                "t",
                focus={"reference": "ServiceRequest/consult"},
                basedOn=[{"reference": f"ServiceRequest/{RID}"}],
            ),
            RID,
        ),
        (
            _stored(
                "CarePlan",
                supportingInfo=[{"reference": f"ServiceRequest/{RID}"}, {"reference": "GuidanceResponse/g"}],
            ),
            RID,
        ),
        (_stored("Encounter", basedOn=[{"reference": f"ServiceRequest/{RID}"}]), RID),
        (_stored("Observation", basedOn=[{"reference": f"ServiceRequest/{RID}"}]), RID),
        (
            _stored(
                "EpisodeOfCare",
                meta={"profile": ["https://fhir.voorzorg.nl/StructureDefinition/voorzorg-programme"]},
                referralRequest=[{"reference": f"ServiceRequest/{RID}"}],
            ),
            RID,
        ),
        (
            _stored(
                "EpisodeOfCare",
                meta={"profile": ["https://fhir.voorzorg.nl/StructureDefinition/voorzorg-ozks-summary"]},
            ),
            None,
        ),
        (
            _stored(
                "Observation",
                code={
                    "coding": [
                        {"system": "https://fhir.voorzorg.nl/CodeSystem/voorzorg-theme", "code": "hechting"}
                    ]
                },
            ),
            None,
        ),
        (_stored("Patient"), None),
        (_stored("Encounter", basedOn=[{"reference": "https://elsewhere.example/ServiceRequest/1"}]), None),
    ],
    ids=[
        "referral",
        "consult-request",
        "referral-task",
        "consult-task",
        "careplan",
        "visit",
        "finding",
        "programme",
        "ozks-summary",
        "theme",
        "patient",
        "absolute",
    ],
)
def test_which_referral_a_change_is_about(stored: Stored, expected: str | None) -> None:
    assert referral_of(stored) == expected


def test_the_programme_follows_before_the_summary_the_outbox_and_the_audit(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    effects = every_change(settings, Exchange.from_settings(settings))
    assert isinstance(effects[0], FollowPath) and isinstance(effects[1], KeepOzksSummary)
    assert len(effects) == 4
