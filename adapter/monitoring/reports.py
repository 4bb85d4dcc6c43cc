"""Reports for `voorzorg-adapter report`: each measure over the period, optionally kept in the store.

A progress bar (rich, on stderr) shows which measure is being computed; only when asked for (a tty, or
`--progress`), so a report piped from cron stays quiet. Kept reports (`--store`) are written as the
operator (the audit names the command).
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from adapter.monitoring.evaluate import evaluate_measure
from adapter.store.session import Session, new_id

if TYPE_CHECKING:
    from adapter.composition import Adapter


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


def _keep(session: Session, reports: list[dict[str, Any]]) -> None:
    for report in reports:
        report["id"] = new_id()
        stored = session.put(report, method="POST")
        report["meta"] = stored.stored.content.get("meta", {})
