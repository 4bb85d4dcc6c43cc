"""Reports for `voorzorg-adapter report`: each measure over the period, optionally kept in the store.

A progress bar (rich, on stderr) shows which measure is being computed; only when asked for (a tty, or
`--progress`), so a report piped from cron stays quiet. Kept reports (`--store`) are written as the
operator (the audit names the command), each under an id of its measure, audience and period
(`report_id`): the same report made again is a new version of it, not a second one.

Sending (`--send`) is keeping: the exchange's flows route what is written (mappings/exchange.yaml, flow
`registration`), so a kept report a flow carries is queued in the transaction that keeps it, and the
delivery worker sends it. `report_peers` names the peers a configured flow sends MeasureReports to.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from adapter.monitoring.evaluate import evaluate_measure
from adapter.monitoring.report import AUDIENCE
from adapter.store.session import Session

if TYPE_CHECKING:
    from adapter.composition import Adapter
    from adapter.exchange.runtime import Exchange

REPORT_TYPE = "MeasureReport"


def make_reports(
    adapter: Adapter,
    measures: tuple[str, ...],
    start: date,
    end: date,
    *,
    audience: str,
    keep: bool = False,
    progress: bool = False,
) -> list[dict[str, Any]]:
    reports: list[dict[str, Any]] = []

    def one(measure: str) -> None:
        with adapter.store.reading() as s:
            reports.append(evaluate_measure(s, measure, start, end, audience=audience))

    if progress:
        from rich.console import Console
        from rich.progress import Progress

        with Progress(console=Console(stderr=True), transient=True) as bar:
            task = bar.add_task("measures", total=len(measures))
            for measure in measures:
                bar.update(task, description=measure)
                one(measure)
                bar.advance(task)
    else:
        for measure in measures:
            one(measure)
    if keep:
        adapter.operator("report --store").write(lambda s: _keep(s, reports))
    return reports


def report_id(report: dict[str, Any]) -> str:
    """The id a kept report has: its measure, audience and period (`voorzorg-uptake-external-2026-01-01-
    2026-12-31`, at most 56 characters), so that making it again updates it."""
    measure = str(report["measure"]).rsplit("/", 1)[1]
    audience = next(e["valueCode"] for e in report["extension"] if e["url"] == AUDIENCE)
    return f"{measure}-{audience}-{report['period']['start']}-{report['period']['end']}"


def report_peers(exchange: Exchange) -> list[str]:
    """The configured peers a flow sends kept MeasureReports to (the regional registration)."""
    return [
        f.peer
        for f in exchange.active_flows
        if f.route is None and any(s.type == REPORT_TYPE for s in f.resources)
    ]


def _keep(session: Session, reports: list[dict[str, Any]]) -> None:
    for report in reports:
        report["id"] = report_id(report)
        stored = session.put(report)
        report["meta"] = stored.stored.content.get("meta", {})
