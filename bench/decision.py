"""The decision alone, in-process: `decide()` (pure) and `check_eligibility()` (parse + map + decide)."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from adapter.config import KNOWN_MODULES
from adapter.data import eligibility_rules
from adapter.domain.eligibility import decide
from adapter.domain.facts import Deployment
from adapter.mapping.referral_in import read_referral
from adapter.workflows.intake import check_eligibility
from bench.report import summary


@dataclass(frozen=True)
class Rate:
    name: str
    calls: int
    per_second: float
    p50_us: float
    p99_us: float


def measure(name: str, fn: Callable[[], object], calls: int) -> Rate:
    """`calls` back to back for the rate, then `calls` timed one by one for p50 / p99 (after a warm-up)."""
    for _ in range(min(200, calls)):  # warm caches (rules, code lists) and the interpreter
        fn()
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    per_second = calls / (time.perf_counter() - start)
    lat: list[float] = []
    clock = time.perf_counter
    for _ in range(calls):
        t0 = clock()
        fn()
        lat.append(clock() - t0)
    s = summary(lat)  # ms
    return Rate(name, calls, per_second, s["p50"] * 1000, s["p99"] * 1000)


def run(bundle: dict[str, Any], calls: int) -> list[Rate]:
    deployment = Deployment(frozenset(KNOWN_MODULES))
    rules = eligibility_rules()
    facts = read_referral(bundle).facts
    expected = decide(facts, rules, deployment)
    pristine = copy.deepcopy(bundle)
    got = check_eligibility(bundle, deployment)
    assert got == expected, (got, expected)
    rates = [
        measure("`decide(facts)` — pure decision", lambda: decide(facts, rules, deployment), calls),
        measure(
            "`check_eligibility(bundle)` — parse + map + decide",
            lambda: check_eligibility(bundle, deployment),
            max(1, calls // 40),  # ~7 ms each since intake validates profiles: keep the run short
        ),
    ]
    assert bundle == pristine, "check_eligibility changed the Bundle it read"
    return rates
