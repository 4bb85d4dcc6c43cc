"""Charts of MeasureReports (R4 JSON), drawn on the server as SVG, each with the numbers it shows.

A pure function of its input: `charts(reports, goals)` reads only the MeasureReports (and the goals the
Measures carry) and never the store, so what the page shows is what the reports say. Two kinds:

- *counts*: the strata of a stratifier (referrals per month by track, reach per municipality): bars,
  stacked when a stratum has two components (month x track);
- *scores*: a score per group or per stratum (enrolment timing, attrition and dosage per phase, consult
  turnaround, births before 37 weeks and under 2,500 g, themes improved per theme) with the FNP goal as a
  dashed line over each bar where the Measure has one.

Each chart is an `<img>` of an SVG document (a data: URL): no script, no fonts or files fetched, and the
page's Content-Security-Policy stays strict; the table beside it carries the same numbers as text.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

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

    comparator: str  # "ge" (at least) or "le" (at most), as mappings/measures.yaml says
    value: float

    def __str__(self) -> str:
        return f"{'≥' if self.comparator == 'ge' else '≤'} {_number(self.value)}"

    def met(self, score: float) -> bool:
        return score >= self.value if self.comparator == "ge" else score <= self.value


@dataclass(frozen=True)
class ChartSpec:
    measure: str  # the Measure's id (MeasureReport.measure ends with it)
    title: str
    kind: str  # "monthly" (counts per month), "counts" (per stratum) or "scores" (per group or stratum)
    group: str | None = None  # the group's code (None: every group, a bar each)
    stratifier: str | None = None  # the stratifier whose strata are drawn
    unit: str = "%"


@dataclass
class Chart:
    key: str
    title: str
    svg: str  # a data: URL of the SVG document
    columns: list[str]
    rows: list[list[str]]
    note: str = ""


#: The dashboard's charts, in page order (domain page §8; mappings/measures.yaml says what each counts).
SPECS: tuple[ChartSpec, ...] = (
    ChartSpec("voorzorg-referrals", "Referrals per month, by track", "monthly", "received", "track", ""),
    ChartSpec(
        "voorzorg-reach", "Reach: clients enrolled per municipality", "counts", "enrolled", "municipality", ""
    ),
    ChartSpec("voorzorg-uptake", "Uptake: enrolled of the referrals decided eligible", "scores"),
    ChartSpec("voorzorg-enrolment-timing", "Enrolment timing: gestational age at enrolment", "scores"),
    ChartSpec("voorzorg-attrition", "Attrition per phase: ended early", "scores"),
    ChartSpec("voorzorg-dosage", "Dosage per phase: visits done of visits planned", "scores"),
    ChartSpec(
        "voorzorg-consult",
        "VoorZorg Consult: days from request to advice",
        "scores",
        "days-to-advice",
        "reason",
        "days",
    ),
    ChartSpec("voorzorg-birth-outcomes", "Birth outcomes: born before 37+0 weeks, under 2,500 g", "scores"),
    ChartSpec(
        "voorzorg-themes",
        "Themes: latest assessment better than the first, per theme",
        "scores",
        "improved",
        "theme",
    ),
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


def group_of(report: Mapping[str, Any], code: str | None) -> Mapping[str, Any]:
    """The group with this code (the first when None); an empty one when the report has none."""
    for group in report.get("group", []):
        if code is None or code_of(group.get("code")) == code:
            found: Mapping[str, Any] = group
            return found
    return {}


def strata(group: Mapping[str, Any], stratifier: str | None) -> list[Mapping[str, Any]]:
    """The strata of the stratifier with this code (the first when None)."""
    for s in group.get("stratifier", []):
        if stratifier is None or any(
            text_of(c) == stratifier or code_of(c) == stratifier for c in s.get("code", [])
        ):
            return list(s.get("stratum", []))
    return []


def _number(value: float | None, unit: str = "") -> str:
    if value is None:
        return "–"
    text = f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"
    return f"{text} %" if unit == "%" else (f"{text} {unit}" if unit else text)


def _count(n: int | None) -> str:
    return "–" if n is None else str(n)


# --- the charts ------------------------------------------------------------------------------------
def charts(
    reports: Mapping[str, Mapping[str, Any]],
    goals: Mapping[str, Goal] | None = None,
    monthly: Sequence[tuple[str, Mapping[str, Any]]] = (),
) -> list[Chart]:
    """The dashboard's charts: `reports` by measure id, `goals` by "measure-id#group-code" (in the unit
    drawn: percent), `monthly` the referrals' reports month by month (label, report). A measure without
    a report is left out."""
    out = []
    for spec in SPECS:
        if spec.kind == "monthly":
            if monthly:
                out.append(monthly_chart(spec, monthly))
            continue
        report = reports.get(spec.measure)
        if report is None:
            continue
        if spec.kind == "counts":
            out.append(counts_chart(spec, report))
        else:
            out.append(scores_chart(spec, report, goals or {}))
    return out


def monthly_chart(spec: ChartSpec, monthly: Sequence[tuple[str, Mapping[str, Any]]]) -> Chart:
    """Stacked bars: per month (a report each), the count of each stratum (track)."""
    series: list[str] = []
    cells: dict[tuple[str, str], float] = {}
    totals: dict[str, int | None] = {}
    for month, report in monthly:
        group = group_of(report, spec.group)
        totals[month] = population(group, "initial-population")
        for stratum in strata(group, spec.stratifier):
            name = text_of(stratum.get("value"))
            series += [name] if name not in series else []
            cells[(month, name)] = float(population(stratum, "initial-population") or 0)
    months = [m for m, _ in monthly]
    rows = [[m, *(_number(cells.get((m, s), 0.0)) for s in series), _count(totals[m])] for m in months]
    svg = _draw_counts(months, series, cells, horizontal=False)
    total = sum(t or 0 for t in totals.values())
    return Chart(_key(spec), spec.title, svg, ["month", *series, "total"], rows, f"{total} in the period")


def counts_chart(spec: ChartSpec, report: Mapping[str, Any]) -> Chart:
    """Horizontal bars: the count of each stratum (municipality)."""
    group = group_of(report, spec.group)
    cells: dict[tuple[str, str], float] = {}
    names = []
    for stratum in strata(group, spec.stratifier):
        name = text_of(stratum.get("value"))
        names.append(name)
        cells[(name, "")] = float(population(stratum, "initial-population") or 0)
    rows = [[n, _number(cells[(n, "")])] for n in names]
    svg = _draw_counts(names, [""], cells, horizontal=True)
    total = population(group, "initial-population")
    return Chart(
        _key(spec), spec.title, svg, [spec.stratifier or "", "count"], rows, f"{_count(total)} in the period"
    )


def scores_chart(spec: ChartSpec, report: Mapping[str, Any], goals: Mapping[str, Goal]) -> Chart:
    """A bar per group (or, for one group, per stratum), its score, and the FNP goal where there is one."""
    elements = _scored(spec, report)
    labels, values, marks, rows = [], [], [], []
    for code, label, element in elements:
        value = score(element)
        value = value * 100.0 if value is not None and spec.unit == "%" else value
        goal = goals.get(f"{spec.measure}#{code}")
        labels.append(label)
        values.append(value)
        marks.append(goal)
        rows.append(
            [
                label,
                *_sizes(spec, element),
                _number(value, spec.unit),
                _goal(goal, spec.unit),
                _verdict(goal, value),
            ]
        )
    svg = _draw_scores(labels, values, marks, spec.unit)
    sizes = ["answered", "requests"] if spec.unit != "%" else ["numerator", "of"]
    return Chart(_key(spec), spec.title, svg, ["", *sizes, "score", "FNP goal", ""], rows)


def _scored(spec: ChartSpec, report: Mapping[str, Any]) -> list[tuple[str, str, Mapping[str, Any]]]:
    if spec.group is not None:
        group = group_of(report, spec.group)
        out = [(code_of(s.get("value")), text_of(s.get("value")), s) for s in strata(group, spec.stratifier)]
        return [("all", "all", group), *out]
    return [(code_of(g.get("code")), text_of(g.get("code")), g) for g in report.get("group", [])]


def _sizes(spec: ChartSpec, element: Mapping[str, Any]) -> list[str]:
    """The counts beside a score: numerator and what it is out of (denominator less exclusions); for a
    mean, how many it is over and of how many."""
    if spec.unit != "%":
        return [
            _count(population(element, "measure-population")),
            _count(population(element, "initial-population")),
        ]
    denominator = population(element, "denominator")
    excluded = population(element, "denominator-exclusion") or 0
    return [
        _count(population(element, "numerator")),
        _count(None if denominator is None else denominator - excluded),
    ]


def _goal(goal: Goal | None, unit: str) -> str:
    return "–" if goal is None else f"{goal}{' %' if unit == '%' else ''}"


def _verdict(goal: Goal | None, value: float | None) -> str:
    if goal is None or value is None:
        return ""
    return "goal met" if goal.met(value) else "goal not met"


def _key(spec: ChartSpec) -> str:
    return spec.measure.removeprefix("voorzorg-")


# --- drawing ---------------------------------------------------------------------------------------
def _figure(rows: int = 0) -> Figure:
    return Figure(figsize=(6.4, max(2.6, 0.32 * rows + 0.8)), layout="constrained")


def _svg(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None, "Type": None, "Format": None})
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
        (ax.xaxis if horizontal else ax.yaxis).set_major_locator(MaxNLocator(integer=True))  # counts
        if not rows:
            _nothing(ax)
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
        if not labels or (all(v is None for v in values) and unit != "%"):
            _nothing(ax)
        return _svg(fig)


def _nothing(ax: Any) -> None:
    ax.set_axis_off()
    ax.text(0.5, 0.5, "no data in this period", ha="center", va="center", transform=ax.transAxes)
