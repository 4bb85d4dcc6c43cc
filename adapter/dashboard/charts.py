"""Charts of MeasureReports (R4 JSON), drawn on the server as SVG, each with the numbers it shows.

A pure function of its input: `charts(reports, goals)` reads only the MeasureReports (and the goals the
Measures carry) and never the store, so what the page shows is what the reports say. Two kinds:

- *counts*: the strata of a stratifier (referrals per month by track, reach per municipality): bars,
  stacked when a stratum has two components (month x track);
- *scores*: a score per group or per stratum (enrolment timing, attrition and dosage per phase, consult
  turnaround) with the FNP goal as a dashed line over each bar.

Each chart is an `<img>` of an SVG document (a data: URL): no script, no fonts or files fetched, and the
page's Content-Security-Policy stays strict; the table beside it carries the same numbers as text.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import matplotlib
from matplotlib.figure import Figure

_STYLE: Any = {
    "svg.fonttype": "none",  # text stays text: small, sharp in print, readable by a screen reader
    "svg.hashsalt": "voorzorg-dashboard",  # the same report draws the same SVG
    "font.family": "sans-serif",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
_COLOURS = ("#1f5f8b", "#e07b39", "#3a9a5b", "#8e5ea2", "#c9a227", "#7f7f7f")
_GOAL_COLOUR = "#b2182b"


@dataclass(frozen=True)
class Goal:
    """An FNP goal: `at least` or `at most` a percentage (or another unit)."""

    comparator: str  # ">=" or "<="
    value: float

    def __str__(self) -> str:
        return f"{'≥' if self.comparator == '>=' else '≤'} {_number(self.value)}"

    def met(self, score: float) -> bool:
        return score >= self.value if self.comparator == ">=" else score <= self.value


@dataclass(frozen=True)
class ChartSpec:
    measure: str  # the Measure's id (MeasureReport.measure ends with it)
    title: str
    kind: str  # "counts" or "scores"
    stratifier: str | None = None  # the stratifier's code (counts; scores per stratum), None: the first
    unit: str = "%"


@dataclass
class Chart:
    key: str
    title: str
    svg: str  # a data: URL of the SVG document
    columns: list[str]
    rows: list[list[str]]
    note: str = ""
    numbers: list[str] = field(default_factory=list)  # the numbers shown, as the table writes them


#: The dashboard's charts, in page order (domain page §8).
SPECS: tuple[ChartSpec, ...] = (
    ChartSpec("voorzorg-referrals", "Referrals per month, by track", "counts", unit=""),
    ChartSpec("voorzorg-reach", "Reach: clients enrolled per municipality", "counts", unit=""),
    ChartSpec("voorzorg-uptake", "Uptake: enrolled of those referred eligible", "scores"),
    ChartSpec("voorzorg-enrolment-timing", "Enrolment timing (gestational age at enrolment)", "scores"),
    ChartSpec("voorzorg-attrition", "Attrition per phase", "scores"),
    ChartSpec("voorzorg-dosage", "Dosage per phase: visits done of visits planned", "scores"),
    ChartSpec("voorzorg-consult", "VoorZorg Consult: turnaround", "scores", unit="days"),
)


# --- reading a MeasureReport -----------------------------------------------------------------------
def text_of(concept: Mapping[str, Any] | None) -> str:
    """What a CodeableConcept says: its text, else its first coding's display or code."""
    if not concept:
        return ""
    if concept.get("text"):
        return str(concept["text"])
    for coding in concept.get("coding", []):
        return str(coding.get("display") or coding.get("code") or "")
    return ""


def code_of(concept: Mapping[str, Any] | None) -> str:
    for coding in (concept or {}).get("coding", []):
        if coding.get("code"):
            return str(coding["code"])
    return text_of(concept)


def population(element: Mapping[str, Any], code: str) -> int | None:
    for p in element.get("population", []):
        if code_of(p.get("code")) == code and isinstance(p.get("count"), int):
            return int(p["count"])
    return None


def score(element: Mapping[str, Any]) -> float | None:
    value = (element.get("measureScore") or {}).get("value")
    return float(value) if isinstance(value, int | float) else None


def measure_id(report: Mapping[str, Any]) -> str:
    return str(report.get("measure", "")).split("|")[0].rstrip("/").rsplit("/", 1)[-1]


def _stratifier(group: Mapping[str, Any], code: str | None) -> Mapping[str, Any] | None:
    for s in group.get("stratifier", []):
        if code is None or any(code_of(c) == code for c in s.get("code", [])):
            found: Mapping[str, Any] = s
            return found
    return None


def _count(element: Mapping[str, Any]) -> float:
    """A stratum's or group's number: its numerator, else its initial population, else its score."""
    for code in ("numerator", "initial-population"):
        n = population(element, code)
        if n is not None:
            return float(n)
    return score(element) or 0.0


def _components(stratum: Mapping[str, Any]) -> tuple[str, str]:
    """(row, series) of a stratum: its two components (month, track), or its value alone."""
    parts = [text_of(c.get("value")) for c in stratum.get("component", [])]
    if len(parts) >= 2:
        return parts[0], parts[1]
    return (parts[0] if parts else text_of(stratum.get("value"))), ""


def _number(value: float | None, unit: str = "") -> str:
    if value is None:
        return "–"
    text = f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"
    return f"{text} %" if unit == "%" else (f"{text} {unit}" if unit else text)


# --- the charts ------------------------------------------------------------------------------------
def charts(reports: Mapping[str, Mapping[str, Any]], goals: Mapping[str, Goal] | None = None) -> list[Chart]:
    """The dashboard's charts of `reports` (measure id -> MeasureReport); `goals` by
    "measure-id#group-or-stratum-code". A measure without a report is left out."""
    out = []
    for spec in SPECS:
        report = reports.get(spec.measure)
        if report is None:
            continue
        if spec.kind == "counts":
            out.append(counts_chart(spec, report))
        else:
            out.append(scores_chart(spec, report, goals or {}))
    return out


def counts_chart(spec: ChartSpec, report: Mapping[str, Any]) -> Chart:
    """Bars of the first group's strata (stacked per series when strata have two components)."""
    group = (report.get("group") or [{}])[0]
    strat = _stratifier(group, spec.stratifier)
    rows_order: list[str] = []
    series_order: list[str] = []
    cells: dict[tuple[str, str], float] = {}
    for stratum in (strat or {}).get("stratum", []):
        row, series = _components(stratum)
        rows_order += [row] if row not in rows_order else []
        series_order += [series] if series not in series_order else []
        cells[(row, series)] = cells.get((row, series), 0.0) + _count(stratum)
    total = population(group, "initial-population")
    labels = [s or "count" for s in series_order] or ["count"]
    table = [[r, *(_number(cells.get((r, s), 0.0)) for s in series_order)] for r in rows_order]
    if len(series_order) > 1:
        table = [
            [*row, _number(sum(cells.get((r, s), 0.0) for s in series_order))]
            for r, row in zip(rows_order, table, strict=True)
        ]
        labels = [*labels, "total"]
    svg = _draw_counts(rows_order, series_order, cells, horizontal=len(series_order) <= 1)
    note = f"total {_number(float(total))}" if total is not None else ""
    return Chart(_key(spec), spec.title, svg, [_heading(strat), *labels], table, note, _numbers(table))


def scores_chart(spec: ChartSpec, report: Mapping[str, Any], goals: Mapping[str, Goal]) -> Chart:
    """A bar per group (or, with one group, per stratum), its score and, where the Measure has one, its
    goal; the table adds numerator and denominator."""
    elements = _scored(report, spec.stratifier)
    labels, values, marks, rows = [], [], [], []
    for code, label, element in elements:
        value = score(element)
        if value is not None and spec.unit == "%" and value <= 1.0 and _is_proportion(report):
            value *= 100.0
        goal = goals.get(f"{spec.measure}#{code}")
        labels.append(label)
        values.append(value)
        marks.append(goal)
        rows.append(
            [
                label,
                _number(_maybe(population(element, "numerator"))),
                _number(_maybe(population(element, "denominator"))),
                _number(value, spec.unit),
                str(goal) + (" %" if goal and spec.unit == "%" else "") if goal else "–",
                _verdict(goal, value),
            ]
        )
    svg = _draw_scores(labels, values, marks, spec.unit)
    columns = ["", "numerator", "denominator", "score", "FNP goal", ""]
    return Chart(_key(spec), spec.title, svg, columns, rows, "", _numbers(rows))


def _scored(report: Mapping[str, Any], stratifier: str | None) -> list[tuple[str, str, Mapping[str, Any]]]:
    groups = report.get("group") or []
    if len(groups) == 1 and _stratifier(groups[0], stratifier) is not None:
        strata = _stratifier(groups[0], stratifier) or {}
        return [(code_of(s.get("value")), text_of(s.get("value")), s) for s in strata.get("stratum", [])]
    return [
        (code_of(g.get("code")), text_of(g.get("code")) or f"group {i + 1}", g) for i, g in enumerate(groups)
    ]


def _is_proportion(report: Mapping[str, Any]) -> bool:
    """Scores of proportions come as fractions (0.75) unless the report's unit says percent."""
    for group in report.get("group", []):
        unit = (group.get("measureScore") or {}).get("unit") or (group.get("measureScore") or {}).get("code")
        if unit == "%":
            return False
    return True


def _maybe(n: int | None) -> float | None:
    return None if n is None else float(n)


def _verdict(goal: Goal | None, value: float | None) -> str:
    if goal is None or value is None:
        return ""
    return "goal met" if goal.met(value) else "goal not met"


def _key(spec: ChartSpec) -> str:
    return spec.measure.removeprefix("voorzorg-")


def _heading(stratifier: Mapping[str, Any] | None) -> str:
    codes = (stratifier or {}).get("code") or [{}]
    return text_of(codes[0]) or ""


def _numbers(rows: Sequence[Sequence[str]]) -> list[str]:
    return [cell for row in rows for cell in row[1:] if cell and cell != "–"]


# --- drawing ---------------------------------------------------------------------------------------
def _figure(rows: int = 0) -> Figure:
    return Figure(figsize=(6.4, max(2.6, 0.32 * rows + 0.8)), layout="constrained")


def _svg(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _draw_counts(
    rows: list[str], series: list[str], cells: Mapping[tuple[str, str], float], *, horizontal: bool
) -> str:
    with matplotlib.rc_context(_STYLE):
        fig = _figure(len(rows) if horizontal else 0)
        ax = fig.add_subplot()
        positions = list(range(len(rows)))
        bottom = [0.0] * len(rows)
        for i, s in enumerate(series):
            values = [cells.get((r, s), 0.0) for r in rows]
            colour = _COLOURS[i % len(_COLOURS)]
            if horizontal:
                bars = ax.barh(positions, values, color=colour, label=s or None)
                ax.bar_label(bars, fmt="%g", padding=2)
            else:
                bars = ax.bar(positions, values, bottom=bottom, color=colour, label=s or None)
                bottom = [b + v for b, v in zip(bottom, values, strict=True)]
        if horizontal:
            ax.set_yticks(positions, rows)
            ax.invert_yaxis()
        else:
            ax.set_xticks(positions, rows, rotation=45, ha="right")
            for x, total in zip(positions, bottom, strict=True):
                ax.annotate(f"{total:g}", (x, total), ha="center", va="bottom", fontsize=8)
            if any(series):
                ax.legend(frameon=False, fontsize=8, ncols=min(len(series), 4), loc="upper left")
        if not rows:
            ax.text(0.5, 0.5, "no data in this period", ha="center", va="center", transform=ax.transAxes)
        return _svg(fig)


def _draw_scores(labels: list[str], values: list[float | None], goals: list[Goal | None], unit: str) -> str:
    with matplotlib.rc_context(_STYLE):
        fig = _figure()
        ax = fig.add_subplot()
        positions = list(range(len(labels)))
        heights = [v or 0.0 for v in values]
        bars = ax.bar(positions, heights, color=_COLOURS[0], width=0.6)
        ax.bar_label(bars, labels=[_number(v, unit) for v in values], padding=2, fontsize=8)
        for x, goal in zip(positions, goals, strict=True):
            if goal is not None:
                ax.hlines(
                    goal.value, x - 0.4, x + 0.4, colors=_GOAL_COLOUR, linestyles="dashed", linewidth=1.5
                )
                ax.annotate(
                    f"goal {goal}", (x + 0.42, goal.value), fontsize=7, color=_GOAL_COLOUR, va="center"
                )
        ax.set_xticks(positions, labels)
        if unit == "%":
            ax.set_ylim(0, 110)
            ax.set_ylabel("%")
        elif unit:
            ax.set_ylabel(unit)
        if not labels:
            ax.text(0.5, 0.5, "no data in this period", ha="center", va="center", transform=ax.transAxes)
        return _svg(fig)
