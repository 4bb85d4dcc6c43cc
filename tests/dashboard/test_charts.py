"""The charts as a pure function of MeasureReports: every chart, its numbers in the table, goal lines."""

from __future__ import annotations

import base64

from adapter.dashboard.charts import SPECS, Goal, charts
from adapter.dashboard.source import goals
from tests.dashboard.reports import all_reports, monthly


def svg(data_url: str) -> str:
    assert data_url.startswith("data:image/svg+xml;base64,")
    return base64.b64decode(data_url.split(",", 1)[1]).decode("utf-8")


def test_every_chart_is_drawn_with_its_numbers() -> None:
    drawn = charts(all_reports(), goals(), monthly())
    assert [c.key for c in drawn] == [s.measure.removeprefix("voorzorg-") for s in SPECS]
    by_key = {c.key: c for c in drawn}
    assert by_key["referrals"].columns == ["month", "late-start", "voorzorg", "total"]
    assert by_key["referrals"].rows == [
        ["Jan", "1", "3", "4"],
        ["Feb", "2", "5", "7"],
        ["Mar", "0", "4", "4"],
    ]
    assert by_key["reach"].rows == [["GM0917", "4"], ["GM0935", "7"]]
    assert by_key["uptake"].rows == [["uptake", "9", "12", "75 %", "≥ 75 %", "goal met"]]
    assert by_key["attrition"].rows[1] == ["infancy", "2", "8", "25 %", "≤ 20 %", "goal not met"]
    assert by_key["dosage"].rows[0] == ["pregnancy", "40", "50", "80 %", "≥ 80 %", "goal met"]
    assert by_key["consult"].rows[0] == ["all", "3", "4", "6.5 days", "–", ""]
    assert by_key["birth-outcomes"].rows == [
        ["preterm", "2", "16", "12.5 %", "–", ""],
        ["low-birth-weight", "3", "15", "20 %", "–", ""],
    ]
    assert by_key["themes"].rows == [
        ["all", "4", "9", "44.4 %", "–", ""],
        ["housing", "3", "5", "60 %", "–", ""],
        ["finances", "1", "4", "25 %", "–", ""],
    ]
    for chart in drawn:
        text = svg(chart.svg)
        assert text.lstrip().startswith("<?xml") or text.lstrip().startswith("<svg")
        assert "<script" not in text and 'href="http' not in text  # nothing run, nothing fetched
        assert chart.rows


def test_goal_lines_come_from_the_measures() -> None:
    g = goals()
    assert g["voorzorg-uptake#uptake"] == Goal("ge", 75.0)
    assert g["voorzorg-attrition#cumulative"] == Goal("le", 40.0)
    assert g["voorzorg-dosage#toddler"] == Goal("ge", 60.0)
    drawn = {c.key: c for c in charts(all_reports(), g, monthly())}
    assert "goal ≥ 80" in svg(drawn["dosage"].svg)  # the dashed line is labelled in the chart itself
    assert "goal ≤ 20" in svg(drawn["attrition"].svg)


def test_a_report_without_data_still_draws() -> None:
    empty = {
        "resourceType": "MeasureReport",
        "measure": "https://fhir.voorzorg.nl/Measure/voorzorg-reach",
        "group": [],
    }
    (chart,) = charts({"voorzorg-reach": empty})
    assert chart.rows == [] and "no data in this period" in svg(chart.svg)


def test_the_same_reports_draw_the_same_svg() -> None:
    assert charts(all_reports(), goals()) == charts(all_reports(), goals())
