"""The PlanDefinitions publish the visit rhythm the adapter plans with, and care plans point at them."""

from __future__ import annotations

import importlib.util
import json
from typing import Any

import yaml
from fastapi.testclient import TestClient

from adapter.config import MAPPINGS_DIR, PROFILES_DIR
from tests.conftest import FHIR_JSON_HEADERS


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location(
        "plan_definitions", PROFILES_DIR / "scripts" / "plan_definitions.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_fsh_is_what_the_visit_schedule_says() -> None:
    schedule = yaml.safe_load((MAPPINGS_DIR / "visit-schedule.yaml").read_text(encoding="utf-8"))
    committed = (PROFILES_DIR / "input" / "fsh" / "plandefinitions.fsh").read_text(encoding="utf-8")
    assert committed == _generator().fsh(schedule), (
        "run: .venv/bin/python profiles/scripts/plan_definitions.py"
    )


def test_every_track_has_a_served_plan_definition_with_its_phases(client: TestClient) -> None:
    schedule = yaml.safe_load((MAPPINGS_DIR / "visit-schedule.yaml").read_text(encoding="utf-8"))
    for track, spec in schedule["tracks"].items():
        r = client.get(f"/PlanDefinition/voorzorg-plan-{track}")
        assert r.status_code == 200, track
        ids = [a["id"] for a in r.json()["action"]]
        assert ids == ["intake", "birth", *(p["name"] for p in spec["phases"])]


def test_the_care_plan_instantiates_a_served_plan_definition(
    client: TestClient, referral: dict[str, Any]
) -> None:
    out = client.post("/", content=json.dumps(referral), headers=FHIR_JSON_HEADERS).json()
    plan = next(e["resource"] for e in out["entry"] if e["resource"]["resourceType"] == "CarePlan")
    url = plan["instantiatesCanonical"][0]
    found = client.get("/PlanDefinition", params={"url": url}).json()
    assert found["total"] == 1
