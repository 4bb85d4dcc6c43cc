"""Rows of facts -> an R4 MeasureReport: populations, scores, strata, subject lists, small numbers.

Populations follow FHIR's proportion semantics: the denominator lies within the initial population, the
exclusions within the denominator, the numerator within the denominator less its exclusions. A count the
outside world may not see (audience external, 1-9) is absent, its primitive carrying the core
data-absent-reason extension (`masked`) and `voorzorg-small-number` with the text shown ("< 10"); a score
computed on such a count is left out too.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from adapter.config import CANONICAL_BASE
from adapter.monitoring.rules import POPULATION_ORDER, UNKNOWN, Group, Measure, SmallNumbers, predicate

Row = dict[str, Any]
POPULATION_SYSTEM = "http://terminology.hl7.org/CodeSystem/measure-population"
IMPROVEMENT_SYSTEM = "http://terminology.hl7.org/CodeSystem/measure-improvement-notation"
DATA_ABSENT = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"
SMALL_NUMBER = f"{CANONICAL_BASE}/StructureDefinition/voorzorg-small-number"
AUDIENCE = f"{CANONICAL_BASE}/StructureDefinition/voorzorg-report-audience"
UCUM = "http://unitsofmeasure.org"


def measure_url(measure_id: str) -> str:
    return f"{CANONICAL_BASE}/Measure/{measure_id}"


def populations(group: Group, rows: list[Row], start: date, end: date) -> dict[str, list[Row]]:
    """Population code -> its rows, nested as FHIR nests them."""

    def meeting(code: str, among: list[Row]) -> list[Row]:
        tests = [predicate(c, start, end) for c in group.populations[code]]
        if len(tests) == 1:
            test = tests[0]
            return [r for r in among if test(r)]
        return [r for r in among if all(t(r) for t in tests)]

    out: dict[str, list[Row]] = {"initial-population": meeting("initial-population", rows)}
    if "measure-population" in group.populations:
        out["measure-population"] = meeting("measure-population", out["initial-population"])
    if "denominator" in group.populations:
        out["denominator"] = meeting("denominator", out["initial-population"])
        excluded: list[Row] = []
        if "denominator-exclusion" in group.populations:
            excluded = meeting("denominator-exclusion", out["denominator"])
            out["denominator-exclusion"] = excluded
        gone = {id(r) for r in excluded}  # the rows themselves (two rows may hold the same facts)
        kept = [r for r in out["denominator"] if id(r) not in gone]
        out["numerator"] = meeting("numerator", kept)
    return out


def score(group: Group, pops: dict[str, list[Row]]) -> float | None:
    if group.scoring == "proportion":
        base = group.count("denominator", pops["denominator"]) - group.count(
            "denominator-exclusion", pops.get("denominator-exclusion", [])
        )
        return round(group.count("numerator", pops["numerator"]) / base, 4) if base > 0 else None
    if group.scoring == "continuous-variable" and group.observe:
        values = [r[group.observe] for r in pops["measure-population"]]
        return round(sum(values) / len(values), 2) if values else None
    return None


def _strata(values: object) -> list[str]:
    if isinstance(values, list | tuple):
        return [str(v) for v in values] or [UNKNOWN]
    return [UNKNOWN if values is None else str(values)]


@dataclass
class Report:
    measure: Measure
    start: date
    end: date
    report_type: str
    audience: str
    small: SmallNumbers

    def render(self, rows: list[Row], subject: str | None) -> dict[str, Any]:
        self.contained: list[dict[str, Any]] = []
        groups = [self._group(i, g, rows) for i, g in enumerate(self.measure.groups)]
        report: dict[str, Any] = {
            "resourceType": "MeasureReport",
            **({"contained": self.contained} if self.contained else {}),
            "extension": [{"url": AUDIENCE, "valueCode": self.audience}],
            "status": "complete",
            "type": self.report_type,
            "measure": measure_url(self.measure.id),
            "date": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "period": {"start": self.start.isoformat(), "end": self.end.isoformat()},
            "improvementNotation": {
                "coding": [{"system": IMPROVEMENT_SYSTEM, "code": self.measure.improvement}]
            },
            "group": groups,
        }
        if subject is not None:
            report["subject"] = {"reference": subject}
        return report

    def _group(self, index: int, group: Group, rows: list[Row]) -> dict[str, Any]:
        pops = populations(group, rows, self.start, self.end)
        out: dict[str, Any] = {
            "code": {
                "coding": [{"system": measure_url(self.measure.id), "code": group.code}],
                "text": group.code,
            },
            "population": self._populations(group, pops, f"g{index}"),
        }
        self._score(out, group, pops)
        if group.stratifiers:
            out["stratifier"] = [
                self._stratifier(group, name, pops, f"g{index}") for name in group.stratifiers
            ]
        return out

    def _populations(
        self, group: Group, pops: dict[str, list[Row]], list_prefix: str
    ) -> list[dict[str, Any]]:
        out = []
        for code in POPULATION_ORDER:
            if code not in pops:
                continue
            p: dict[str, Any] = {"code": {"coding": [{"system": POPULATION_SYSTEM, "code": code}]}}
            p |= self._count(group.count(code, pops[code]), len(pops[code]))
            if self.report_type == "subject-list":
                p["subjectResults"] = {"reference": "#" + self._list(f"{list_prefix}-{code}", pops[code])}
            out.append(p)
        return out

    def _count(self, n: int, people: int) -> dict[str, Any]:
        """The count `n` of a population of `people` rows (n = people unless weighted: visits)."""
        if self.audience == "external" and (self.small.hides(people) or self.small.hides(n)):
            return {
                "_count": {
                    "extension": [
                        {"url": DATA_ABSENT, "valueCode": "masked"},
                        {"url": SMALL_NUMBER, "valueString": self.small.shown},
                    ]
                }
            }
        return {"count": n}

    def _hidden(self, group: Group, pops: dict[str, list[Row]]) -> bool:
        return self.audience == "external" and any(
            self.small.hides(len(rows)) or self.small.hides(group.count(code, rows))
            for code, rows in pops.items()
        )

    def _score(self, out: dict[str, Any], group: Group, pops: dict[str, list[Row]]) -> None:
        value = score(group, pops)
        if value is None or self._hidden(group, pops):
            return
        if group.scoring == "continuous-variable":
            unit = group.unit_of_measure or "1"
            out["measureScore"] = {"value": value, "unit": unit, "system": UCUM, "code": unit}
        else:
            out["measureScore"] = {"value": value}

    def _stratifier(self, group: Group, name: str, pops: dict[str, list[Row]], prefix: str) -> dict[str, Any]:
        values = sorted({v for r in pops["initial-population"] for v in _strata(r.get(name))})
        # each population's rows by stratum, in one pass (a row with several values is in each of them)
        by_value: dict[str, dict[str, list[Row]]] = {code: {} for code in pops}
        for code, rows in pops.items():
            for r in rows:
                for v in dict.fromkeys(_strata(r.get(name))):
                    by_value[code].setdefault(v, []).append(r)
        strata = []
        for value in values:
            sub = {code: by_value[code].get(value, []) for code in pops}
            stratum: dict[str, Any] = {
                "value": {"text": value},
                "population": self._populations(group, sub, f"{prefix}-{name}-{value}"),
            }
            self._score(stratum, group, sub)
            strata.append(stratum)
        return {"code": [{"text": name}], "stratum": strata}

    def _list(self, list_id: str, rows: list[Row]) -> str:
        """A contained List of the rows' refs; its id made of `list_id` in FHIR's id characters, unique in
        the report: one cut at 64 characters, or taken already (a long stratum value, "St. Anna" and
        "St Anna"), ends in a digest of the whole `list_id` instead."""
        safe = "".join(ch if ch.isalnum() or ch == "." else "-" for ch in list_id)  # "-" stays "-"
        if len(safe) > 64 or any(c["id"] == safe for c in self.contained):
            safe = f"{safe[:51]}-{hashlib.sha256(list_id.encode()).hexdigest()[:12]}"
        refs = list(dict.fromkeys(str(r["ref"]) for r in rows))
        self.contained.append(
            {
                "resourceType": "List",
                "id": safe,
                "status": "current",
                "mode": "snapshot",
                **({"entry": [{"item": {"reference": ref}} for ref in refs]} if refs else {}),
            }
        )
        return safe
