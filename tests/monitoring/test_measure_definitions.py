"""The Measures are published in the FHIR package from mappings/measures.yaml (one source): the committed
FSH is what profiles/scripts/measures_fsh.py writes, and every group carries its FNP goal as data."""

from __future__ import annotations

import importlib.util
from typing import Any

import yaml

from adapter.config import MAPPINGS_DIR, PROFILES_DIR
from adapter.data import conformance_resource
from adapter.monitoring import MEASURE_IDS

GOAL = "https://fhir.voorzorg.nl/StructureDefinition/voorzorg-measure-goal"


def _generator() -> Any:
    script = PROFILES_DIR / "scripts" / "measures_fsh.py"
    spec = importlib.util.spec_from_file_location("measures_fsh", script)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _yaml() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((MAPPINGS_DIR / "measures.yaml").read_text(encoding="utf-8"))
    return data


def test_committed_fsh_is_what_measures_yaml_says() -> None:
    committed = (PROFILES_DIR / "input" / "fsh" / "measures.fsh").read_text(encoding="utf-8")
    assert committed == _generator().fsh(_yaml()), "run: .venv/bin/python profiles/scripts/measures_fsh.py"


def test_the_package_holds_the_nine_measures_with_their_goals() -> None:
    definitions = _yaml()["measures"]
    assert tuple(definitions) == MEASURE_IDS
    goals = {}
    for mid in MEASURE_IDS:
        measure = conformance_resource("Measure", mid)
        assert measure is not None, mid
        assert measure["url"] == f"https://fhir.voorzorg.nl/Measure/{mid}"
        words = measure["description"].lower()
        assert "numerator" in words and "denominator" in words, mid
        for group in measure["group"]:
            for ext in group.get("extension", []):
                if ext["url"] == GOAL:
                    parts = {e["url"]: e for e in ext["extension"]}
                    goals[mid, group["code"]["text"]] = (
                        parts["comparator"]["valueCode"],
                        parts["target"]["valueDecimal"],
                    )
    assert goals == {
        ("voorzorg-uptake", "uptake"): ("ge", 0.75),
        ("voorzorg-enrolment-timing", "before-16-weeks"): ("ge", 0.6),
        ("voorzorg-enrolment-timing", "before-28-weeks"): ("ge", 1.0),
        ("voorzorg-attrition", "pregnancy"): ("le", 0.1),
        ("voorzorg-attrition", "infancy"): ("le", 0.2),
        ("voorzorg-attrition", "toddler"): ("le", 0.1),
        ("voorzorg-attrition", "cumulative"): ("le", 0.4),
        ("voorzorg-dosage", "pregnancy"): ("ge", 0.8),
        ("voorzorg-dosage", "infancy"): ("ge", 0.65),
        ("voorzorg-dosage", "toddler"): ("ge", 0.6),
    }


def test_the_report_groups_are_the_measure_groups() -> None:
    for mid, m in _yaml()["measures"].items():
        measure = conformance_resource("Measure", mid)
        assert measure is not None
        assert [g["code"]["text"] for g in measure["group"]] == [g["code"] for g in m["groups"]]
        stratifiers = [[s["code"]["text"] for s in g.get("stratifier", [])] for g in measure["group"]]
        assert stratifiers == [g.get("stratifiers", []) for g in m["groups"]]
