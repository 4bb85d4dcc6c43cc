"""MeasureReports (R4 JSON) as input data for the chart tests: what `evaluate_measure` answers, written out."""

from __future__ import annotations

from typing import Any

MEASURE = "https://fhir.voorzorg.nl/Measure/"
POP = "http://terminology.hl7.org/CodeSystem/measure-population"


def concept(code: str, display: str | None = None) -> dict[str, Any]:
    return {
        "coding": [
            {"system": "https://fhir.voorzorg.nl/CodeSystem/test", "code": code, "display": display or code}
        ]
    }


def pops(**counts: int) -> list[dict[str, Any]]:
    return [
        {"code": {"coding": [{"system": POP, "code": k.replace("_", "-")}]}, "count": v}
        for k, v in counts.items()
    ]


def report(measure: str, groups: list[dict[str, Any]], year: int = 2026) -> dict[str, Any]:
    return {
        "resourceType": "MeasureReport",
        "status": "complete",
        "type": "summary",
        "measure": MEASURE + measure,
        "date": f"{year + 1}-01-05",
        "period": {"start": f"{year}-01-01", "end": f"{year}-12-31"},
        "group": groups,
    }


def referrals() -> dict[str, Any]:
    strata = []
    for month, counts in (("2026-01", (3, 1)), ("2026-02", (5, 2)), ("2026-03", (4, 0))):
        for track, n in zip(("voorzorg", "late-start"), counts, strict=True):
            strata.append(
                {
                    "component": [
                        {"code": concept("month"), "value": {"text": month}},
                        {"code": concept("track"), "value": {"text": track}},
                    ],
                    "population": pops(initial_population=n),
                }
            )
    group = {
        "population": pops(initial_population=15),
        "stratifier": [{"code": [concept("month-track", "month, track")], "stratum": strata}],
    }
    return report("voorzorg-referrals", [group])


def reach() -> dict[str, Any]:
    strata = [
        {"value": concept("GM0935", "Maastricht"), "population": pops(initial_population=7)},
        {"value": concept("GM0917", "Heerlen"), "population": pops(initial_population=4)},
    ]
    group = {
        "population": pops(initial_population=11),
        "stratifier": [{"code": [concept("municipality")], "stratum": strata}],
    }
    return report("voorzorg-reach", [group])


def scored(measure: str, parts: list[tuple[str, int, int]]) -> dict[str, Any]:
    groups = [
        {
            "code": concept(code),
            "population": pops(numerator=n, denominator=d),
            "measureScore": {"value": round(n / d, 4) if d else None},
        }
        for code, n, d in parts
    ]
    return report(measure, groups)


def all_reports() -> dict[str, dict[str, Any]]:
    return {
        "voorzorg-referrals": referrals(),
        "voorzorg-reach": reach(),
        "voorzorg-uptake": scored("voorzorg-uptake", [("uptake", 9, 12)]),
        "voorzorg-enrolment-timing": scored(
            "voorzorg-enrolment-timing", [("before-16-weeks", 5, 11), ("before-28-weeks", 10, 11)]
        ),
        "voorzorg-attrition": scored(
            "voorzorg-attrition", [("pregnancy", 1, 11), ("infancy", 2, 8), ("toddler", 0, 5)]
        ),
        "voorzorg-dosage": scored(
            "voorzorg-dosage", [("pregnancy", 40, 50), ("infancy", 30, 50), ("toddler", 20, 40)]
        ),
        "voorzorg-consult": report(
            "voorzorg-consult",
            [
                {
                    "code": concept("days-to-advice"),
                    "population": pops(initial_population=4),
                    "measureScore": {"value": 6.5, "unit": "d"},
                }
            ],
        ),
    }
