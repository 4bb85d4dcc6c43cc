"""Small numbers (domain page §8): outside the organisation a count of 1-9 is "< 10" and the scores
computed on it are left out; 10 is shown; internal reports are exact. The rule is data
(mappings/measures.yaml `small_numbers`), tested at its boundary 9/10."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from adapter.monitoring.report import Report
from adapter.monitoring.rules import measure_rules

START, END = date(2026, 1, 1), date(2026, 12, 31)


def _uptake(enrolled: int, eligible: int, audience: str) -> dict[str, Any]:
    rules = measure_rules()
    rows = [
        {"ref": f"ServiceRequest/{i}", "subject": f"Patient/{i}", "referred": date(2026, 3, 2),
         "eligible": True, "track": "voorzorg", "municipality": "0935", "referrer-kind": "midwife",
         **({"enrolled": date(2026, 3, 9)} if i < enrolled else {})}
        for i in range(eligible)
    ]  # fmt: skip
    report = Report(rules.measures["voorzorg-uptake"], START, END, "summary", audience, rules.small_numbers)
    return report.render(rows, None)["group"][0]


def test_the_threshold_is_data() -> None:
    assert measure_rules().small_numbers.threshold == 10
    assert measure_rules().small_numbers.shown == "< 10"


@pytest.mark.parametrize(("n", "hidden"), [(9, True), (10, False)])
def test_external_counts_below_ten_are_masked_at_the_boundary(n: int, hidden: bool) -> None:
    g = _uptake(n, 20, "external")
    numerator = next(p for p in g["population"] if p["code"]["coding"][0]["code"] == "numerator")
    if hidden:
        assert "count" not in numerator
        texts = [e.get("valueString") for e in numerator["_count"]["extension"]]
        assert "< 10" in texts
        assert "measureScore" not in g  # computed on a masked count
    else:
        assert numerator["count"] == 10 and "_count" not in numerator
        assert g["measureScore"] == {"value": 0.5}


@pytest.mark.parametrize("n", [9, 10])
def test_internal_reports_are_exact(n: int) -> None:
    g = _uptake(n, 20, "internal")
    numerator = next(p for p in g["population"] if p["code"]["coding"][0]["code"] == "numerator")
    assert numerator["count"] == n and g["measureScore"] == {"value": n / 20}


def test_a_stratum_below_ten_loses_its_score_while_the_group_keeps_its_own() -> None:
    g = _uptake(12, 20, "external")
    assert g["measureScore"] == {"value": 0.6}
    stratum = g["stratifier"][0]["stratum"][0]
    assert "measureScore" in stratum  # midwife: 20 / 12, nothing small
    zero = _uptake(0, 20, "external")
    assert next(p for p in zero["population"] if p["code"]["coding"][0]["code"] == "numerator")["count"] == 0
