"""A birth report's outcome -> the domain: the components of the delivery-date Observation (profile
voorzorg-delivery-date) — gestational age at birth (LOINC 76516-4), per child the birth weight (LOINC
8339-4) and whether it was born alive (voorzorg-referral-item#live-born)."""

from __future__ import annotations

from typing import Any

from adapter.data import own_system, referral_codes
from adapter.domain.programme import BirthOutcome, OutcomeProblem

GA_AT_BIRTH = ("http://loinc.org", "76516-4")
BIRTH_WEIGHT = ("http://loinc.org", "8339-4")
LIVE_BORN = (own_system("voorzorg-referral-item"), "live-born")
#: UCUM unit -> grams
_GRAMS = {"g": 1, "kg": 1000}


def _is(component: dict[str, Any], code: tuple[str, str]) -> bool:
    return any(
        (c.get("system"), c.get("code")) == code for c in (component.get("code") or {}).get("coding", [])
    )


def birth_outcome(observation: dict[str, Any]) -> tuple[BirthOutcome, dict[tuple[OutcomeProblem, int], str]]:
    """The outcome a birth report carries, and where each value sits (to name it when implausible)."""
    days_per = referral_codes()["duration_units"]
    ga: int | None = None
    weights: list[int] = []
    alive: list[bool] = []
    where: dict[tuple[OutcomeProblem, int], str] = {}
    for i, component in enumerate(observation.get("component", [])):
        q = component.get("valueQuantity") or {}
        path = f"Observation.component[{i}].valueQuantity"
        if _is(component, GA_AT_BIRTH) and q.get("code") in days_per and "value" in q:
            ga = round(float(q["value"]) * days_per[q["code"]])
            where[(OutcomeProblem.GESTATIONAL_AGE, 0)] = path
        elif _is(component, BIRTH_WEIGHT) and q.get("code") in _GRAMS and "value" in q:
            where[(OutcomeProblem.BIRTH_WEIGHT, len(weights))] = path
            weights.append(round(float(q["value"]) * _GRAMS[q["code"]]))
        elif _is(component, LIVE_BORN) and isinstance(component.get("valueBoolean"), bool):
            alive.append(component["valueBoolean"])
    return BirthOutcome(ga, tuple(weights), tuple(alive)), where
