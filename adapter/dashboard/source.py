"""Where the dashboard's numbers come from: the monitoring measures (`adapter.monitoring`), evaluated over
the store for one calendar year, as R4 MeasureReports — the dashboard reads nothing else."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from adapter.dashboard.charts import SPECS, Goal
from adapter.fhir.outcome import FhirError
from adapter.store.engine import Store


@dataclass
class Reports:
    period: tuple[date, date]
    reports: dict[str, dict[str, Any]] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)  # measure id -> why there is no report
    goals: dict[str, Goal] = field(default_factory=dict)

    @property
    def measures(self) -> list[str]:
        return [*self.reports, *self.unavailable]


def shown_measures() -> tuple[str, ...]:
    return tuple(spec.measure for spec in SPECS)


def year_reports(store: Store, year: int, measures: Iterable[str] | None = None) -> Reports:
    """The MeasureReports of `year` (1 January to 31 December), internal audience (exact counts)."""
    from adapter.monitoring import evaluate_measure

    start, end = date(year, 1, 1), date(year, 12, 31)
    out = Reports((start, end))
    with store.reading() as s:
        for measure in measures or shown_measures():
            try:
                out.reports[measure] = evaluate_measure(s, measure, start, end, audience="internal")
            except FhirError as e:
                out.unavailable[measure] = "; ".join(i.diagnostics for i in e.issues) or "not available"
    return out
