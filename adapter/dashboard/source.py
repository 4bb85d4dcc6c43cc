"""Where the dashboard's numbers come from: the monitoring measures (`adapter.monitoring`), evaluated over
the store for one calendar year as R4 MeasureReports — the dashboard reads nothing else — and the FNP
goals the Measures carry (mappings/measures.yaml, published on each Measure's group)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from adapter.dashboard.charts import SPECS, Goal
from adapter.fhir.outcome import FhirError
from adapter.monitoring import evaluate_measure
from adapter.monitoring.facts import Facts
from adapter.monitoring.rules import measure_rules
from adapter.store.engine import Store

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass
class Reports:
    period: tuple[date, date]
    reports: dict[str, dict[str, Any]] = field(default_factory=dict)
    monthly: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # the referrals, per month
    unavailable: dict[str, str] = field(default_factory=dict)  # measure id -> why there is no report
    goals: dict[str, Goal] = field(default_factory=dict)

    @property
    def measures(self) -> list[str]:
        return [*self.reports, *self.unavailable]


def shown_measures() -> tuple[str, ...]:
    return tuple(dict.fromkeys(spec.measure for spec in SPECS))


def goals() -> dict[str, Goal]:
    """ "measure-id#group-code" -> the FNP goal, in percent (the Measures state fractions)."""
    return {
        f"{m.id}#{g.code}": Goal(g.goal.comparator, round(g.goal.value * 100, 2))
        for m in measure_rules().measures.values()
        for g in m.groups
        if g.goal is not None
    }


def year_reports(store: Store, year: int) -> Reports:
    """The MeasureReports of `year` (1 January to 31 December), internal audience (exact counts); the
    referrals also month by month (a report each: the measure counts per period)."""
    start, end = date(year, 1, 1), date(year, 12, 31)
    out = Reports((start, end), goals=goals())
    with store.reading() as s:
        facts = Facts(s, measure_rules(), start, end)  # the store read once for the page
        for measure in shown_measures():
            report = _evaluate(facts, out, measure, start, end)
            if report is not None:
                out.reports[measure] = report
        if "voorzorg-referrals" in out.reports:
            for month in range(1, 13):
                first = date(year, month, 1)
                last = date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)
                report = _evaluate(facts, out, "voorzorg-referrals", first, last)
                if report is not None:
                    out.monthly.append((MONTHS[month - 1], report))
    return out


def _evaluate(facts: Facts, out: Reports, measure: str, start: date, end: date) -> dict[str, Any] | None:
    try:
        return evaluate_measure(facts.s, measure, start, end, audience="internal", facts=facts)
    except FhirError as e:
        out.unavailable[measure] = "; ".join(i.diagnostics for i in e.issues) or "not available"
        return None
