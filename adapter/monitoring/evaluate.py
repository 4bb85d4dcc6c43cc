"""`evaluate_measure`: the checks on what is asked, then the MeasureReport."""

from __future__ import annotations

from datetime import date
from typing import Any

from adapter.fhir.outcome import FhirError
from adapter.monitoring.facts import Facts
from adapter.monitoring.report import Report
from adapter.monitoring.rules import measure_rules
from adapter.store.session import Session

MEASURE_IDS: tuple[str, ...] = (
    "voorzorg-referrals",
    "voorzorg-reach",
    "voorzorg-uptake",
    "voorzorg-enrolment-timing",
    "voorzorg-attrition",
    "voorzorg-dosage",
    "voorzorg-consult",
    "voorzorg-birth-outcomes",
    "voorzorg-themes",
)
REPORT_TYPES = ("summary", "subject-list")
AUDIENCES = ("internal", "external")
#: The longest period a report may cover (the programme lasts about 2.5 years; 5 years is two cohorts).
MAX_PERIOD_DAYS = 5 * 366


def check_request(
    measure_id: str, period_start: date, period_end: date, report_type: str, audience: str
) -> None:
    """A FhirError (4xx, naming the parameter) for anything `evaluate_measure` cannot answer."""
    if measure_id not in MEASURE_IDS:
        raise FhirError.one(404, f"Measure/{measure_id} is not known", code="not-found")
    if period_end < period_start:
        raise FhirError.one(
            400, f"periodEnd {period_end} lies before periodStart {period_start}", "periodEnd"
        )
    if (period_end - period_start).days > MAX_PERIOD_DAYS:
        raise FhirError.one(
            400, "A report covers at most 5 years: ask per period", "periodEnd", code="too-costly"
        )
    if report_type not in REPORT_TYPES:
        raise FhirError.one(
            400,
            f"reportType {report_type!r}: this server makes {', '.join(REPORT_TYPES)}",
            "reportType",
            code="not-supported",
        )
    if audience not in AUDIENCES:
        raise FhirError.one(400, f"audience {audience!r}: internal or external", "audience")
    if audience == "external" and report_type == "subject-list":
        raise FhirError.one(
            400,
            "A list of clients never leaves the organisation: an external report is a summary",
            "reportType",
            code="not-supported",
        )


def evaluate_measure(
    session: Session,
    measure_id: str,
    period_start: date,
    period_end: date,
    *,
    report_type: str = "summary",
    subject: str | None = None,
    audience: str = "internal",
    facts: Facts | None = None,
) -> dict[str, Any]:
    """The MeasureReport (R4, JSON) of one measure over [period_start, period_end], both days included.

    `subject` (`Patient/{id}`) limits the populations to one client; `audience` "external" shows counts of
    1-9 as "< 10" and drops the scores computed on them (mappings/measures.yaml `small_numbers`).
    Bad input raises `FhirError` (404 unknown measure, 400 naming the parameter). `facts` (over the same
    session) lets the reports of a page read the store once: the dashboard's measures and months.
    """
    check_request(measure_id, period_start, period_end, report_type, audience)
    rules = measure_rules()
    measure = rules.measures[measure_id]
    if facts is None:
        facts = Facts(session, rules, period_start, period_end)
    rows = facts.over(period_start, period_end).rows(measure.unit)
    if subject is not None:
        rows = [r for r in rows if r.get("subject") == subject]
    report = Report(measure, period_start, period_end, report_type, audience, rules.small_numbers)
    return report.render(rows, subject)
