"""MeasureReports (R4 JSON) as input data for the chart tests, in the shape `evaluate_measure` answers."""

from __future__ import annotations

from typing import Any

from adapter.monitoring.report import measure_url

POP = "http://terminology.hl7.org/CodeSystem/measure-population"


def pops(**counts: int) -> list[dict[str, Any]]:
    return [
        {"code": {"coding": [{"system": POP, "code": k.replace("_", "-")}]}, "count": v}
        for k, v in counts.items()
    ]


def group(measure: str, code: str, **extra: Any) -> dict[str, Any]:
    return {"code": {"coding": [{"system": measure_url(measure), "code": code}], "text": code}, **extra}


def stratifier(name: str, strata: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    return {"code": [{"text": name}], "stratum": [{"value": {"text": v}, **rest} for v, rest in strata]}


def report(
    measure: str, groups: list[dict[str, Any]], start: str = "2026-01-01", end: str = "2026-12-31"
) -> dict[str, Any]:
    return {
        "resourceType": "MeasureReport",
        "status": "complete",
        "type": "summary",
        "measure": measure_url(measure),
        "date": "2027-01-05T10:00:00Z",
        "period": {"start": start, "end": end},
        "group": groups,
    }


def referrals_in(month: int, voorzorg: int, late_start: int) -> dict[str, Any]:
    tracks = stratifier(
        "track",
        [
            ("late-start", {"population": pops(initial_population=late_start)}),
            ("voorzorg", {"population": pops(initial_population=voorzorg)}),
        ],
    )
    received = group(
        "voorzorg-referrals",
        "received",
        population=pops(initial_population=voorzorg + late_start),
        stratifier=[tracks],
    )
    return report("voorzorg-referrals", [received], f"2026-{month:02}-01", f"2026-{month:02}-28")


def proportion(measure: str, parts: list[tuple[str, int, int]]) -> dict[str, Any]:
    groups = [
        group(
            measure,
            code,
            population=pops(initial_population=d, denominator=d, numerator=n),
            **({"measureScore": {"value": round(n / d, 4)}} if d else {}),
        )
        for code, n, d in parts
    ]
    return report(measure, groups)


def all_reports() -> dict[str, dict[str, Any]]:
    reach = stratifier(
        "municipality",
        [
            ("GM0917", {"population": pops(initial_population=4)}),
            ("GM0935", {"population": pops(initial_population=7)}),
        ],
    )
    by_reason = stratifier(
        "reason",
        [
            (
                "addiction",
                {
                    "population": pops(initial_population=2, measure_population=1),
                    "measureScore": {"value": 9.0, "unit": "d"},
                },
            )
        ],
    )
    days = group(
        "voorzorg-consult",
        "days-to-advice",
        population=pops(initial_population=4, measure_population=3),
        measureScore={"value": 6.5, "unit": "d"},
        stratifier=[by_reason],
    )
    by_theme = stratifier(
        "theme",
        [
            ("housing", {"population": pops(initial_population=5, denominator=5, numerator=3),
                         "measureScore": {"value": 0.6}}),
            ("finances", {"population": pops(initial_population=4, denominator=4, numerator=1),
                          "measureScore": {"value": 0.25}}),
        ],
    )  # fmt: skip
    improved = group(
        "voorzorg-themes",
        "improved",
        population=pops(initial_population=9, denominator=9, numerator=4),
        measureScore={"value": round(4 / 9, 4)},
        stratifier=[by_theme],
    )
    return {
        "voorzorg-reach": report(
            "voorzorg-reach",
            [group("voorzorg-reach", "enrolled", population=pops(initial_population=11), stratifier=[reach])],
        ),
        "voorzorg-uptake": proportion("voorzorg-uptake", [("uptake", 9, 12)]),
        "voorzorg-enrolment-timing": proportion(
            "voorzorg-enrolment-timing", [("before-16-weeks", 5, 11), ("before-28-weeks", 11, 11)]
        ),
        "voorzorg-attrition": proportion(
            "voorzorg-attrition",
            [("pregnancy", 1, 11), ("infancy", 2, 8), ("toddler", 0, 5), ("cumulative", 3, 11)],
        ),
        "voorzorg-dosage": proportion(
            "voorzorg-dosage", [("pregnancy", 40, 50), ("infancy", 30, 50), ("toddler", 20, 40)]
        ),
        "voorzorg-consult": report("voorzorg-consult", [days]),
        "voorzorg-birth-outcomes": proportion(
            "voorzorg-birth-outcomes", [("preterm", 2, 16), ("low-birth-weight", 3, 15)]
        ),
        "voorzorg-themes": report("voorzorg-themes", [improved]),
    }


def monthly() -> list[tuple[str, dict[str, Any]]]:
    return [("Jan", referrals_in(1, 3, 1)), ("Feb", referrals_in(2, 5, 2)), ("Mar", referrals_in(3, 4, 0))]
