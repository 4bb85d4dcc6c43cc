"""mappings/measures.yaml as typed rules: the measures, their groups and populations, the stratifiers,
the goals, the small-numbers rule, and how a referrer's kind and her municipality are read."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import Any

from adapter.data import measure_definitions

UNKNOWN = "unknown"
#: The order populations appear in a MeasureReport group (R4 measure-population codes).
POPULATION_ORDER = (
    "initial-population",
    "denominator",
    "denominator-exclusion",
    "numerator",
    "measure-population",
)


@dataclass(frozen=True)
class Goal:
    comparator: str  # ge | le
    value: float


@dataclass(frozen=True)
class Group:
    code: str
    description: str
    scoring: str  # proportion | cohort | continuous-variable
    populations: dict[str, list[dict[str, Any]]]
    stratifiers: tuple[str, ...]
    goal: Goal | None = None
    observe: str | None = None
    unit_of_measure: str | None = None
    weights: dict[str, str] | None = None  # population code -> the fact summed instead of counting rows

    def count(self, code: str, rows: list[dict[str, Any]]) -> int:
        weight = (self.weights or {}).get(code)
        return sum(int(r.get(weight) or 0) for r in rows) if weight else len(rows)


@dataclass(frozen=True)
class Measure:
    id: str
    title: str
    description: str
    unit: str
    improvement: str  # increase | decrease
    groups: tuple[Group, ...]


@dataclass(frozen=True)
class SmallNumbers:
    threshold: int
    shown: str

    def hides(self, count: int) -> bool:
        return 0 < count < self.threshold


@dataclass(frozen=True)
class MeasureRules:
    measures: dict[str, Measure]
    small_numbers: SmallNumbers
    referrer_kinds: dict[str, str]
    municipality_systems: tuple[str, ...]
    eligible_tracks: frozenset[str]

    def referrer_kind(self, requester: dict[str, Any] | None) -> str:
        """The kind of referrer (measures.yaml `referrer_kinds`) from the requester's type or code."""
        if not requester:
            return UNKNOWN
        for element in ("type", "code"):
            for concept in requester.get(element) or []:
                for c in concept.get("coding", []):
                    kind = self.referrer_kinds.get(f"{c.get('system')}|{c.get('code')}")
                    if kind:
                        return kind
        return "other"

    def municipality_of(self, patient: dict[str, Any]) -> str:
        """Her gemeente: a CBS code on the address's district where one is sent, else the district."""
        addresses = patient.get("address") or []
        home = [a for a in addresses if a.get("use") in (None, "home")] or addresses
        for address in home:
            code = self._coded(address)
            if code:
                return code
            district = address.get("district")
            if isinstance(district, str) and district.strip():
                return district.strip()
        return UNKNOWN

    def _coded(self, address: dict[str, Any]) -> str | None:
        extensions = [
            *(address.get("_district") or {}).get("extension", []),
            *address.get("extension", []),
        ]
        for ext in extensions:
            codings = [ext["valueCoding"]] if "valueCoding" in ext else []
            codings += (ext.get("valueCodeableConcept") or {}).get("coding", [])
            for c in codings:
                if c.get("system") in self.municipality_systems and c.get("code"):
                    return str(c["code"])
        return None


def _group(raw: dict[str, Any]) -> Group:
    goal = raw.get("goal")
    return Group(
        code=str(raw["code"]),
        description=str(raw.get("description", "")).strip(),
        scoring=str(raw["scoring"]),
        populations={k: list(v or []) for k, v in raw["populations"].items()},
        stratifiers=tuple(raw.get("stratifiers", [])),
        goal=Goal(str(goal["comparator"]), float(goal["value"])) if goal else None,
        observe=raw.get("observe"),
        unit_of_measure=raw.get("unit_of_measure"),
        weights=dict(raw["weights"]) if raw.get("weights") else None,
    )


@cache
def measure_rules() -> MeasureRules:
    d = measure_definitions()
    measures = {
        mid: Measure(
            id=mid,
            title=str(m["title"]),
            description=" ".join(str(m["description"]).split()),
            unit=str(m["unit"]),
            improvement=str(m["improvement"]),
            groups=tuple(_group(g) for g in m["groups"]),
        )
        for mid, m in d["measures"].items()
    }
    small = d["small_numbers"]
    return MeasureRules(
        measures=measures,
        small_numbers=SmallNumbers(int(small["threshold"]), str(small["shown"])),
        referrer_kinds={str(k): str(v) for k, v in d["referrer_kinds"].items()},
        municipality_systems=tuple(d["municipality"]["code_systems"]),
        eligible_tracks=frozenset(d["eligible_tracks"]),
    )


#: The checks of a condition (measures.yaml's header): (the fact's value, what the condition says, the
#: period's start and end) -> holds.
_CHECKS: dict[str, Callable[[Any, Any, date, date], bool]] = {
    "in": lambda v, want, start, end: v in want,
    "not_in": lambda v, want, start, end: v not in want,
    "lt": lambda v, want, start, end: v is not None and v < want,
    "ge": lambda v, want, start, end: v is not None and v >= want,
    "is": lambda v, want, start, end: v == want,
    "present": lambda v, want, start, end: (v is not None) == want,
    "in_period": lambda v, want, start, end: v is not None and (start <= v <= end) == want,
}


def predicate(condition: dict[str, Any], start: date, end: date) -> Callable[[dict[str, Any]], bool]:
    """One condition of a population (measures.yaml's header lists them) as a test of a row of facts,
    made once for the rows of a report."""
    if "overlaps_period" in condition:
        first, last = condition["overlaps_period"]

        def overlaps(row: dict[str, Any]) -> bool:
            lo, hi = row.get(first), row.get(last)
            return lo is not None and lo <= end and (hi is None or hi >= start)

        return overlaps
    fact = condition["fact"]
    checks = [(check, want) for key, want in condition.items() if (check := _CHECKS.get(key)) is not None]
    if len(checks) == 1:
        check, want = checks[0]
        return lambda row: check(row.get(fact), want, start, end)
    return lambda row: all(check(row.get(fact), want, start, end) for check, want in checks)
