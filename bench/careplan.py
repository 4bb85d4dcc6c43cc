"""The care plan: plan generation in-process, and `PlanDefinition/$apply` over HTTP."""

from __future__ import annotations

import json
from datetime import date, timedelta

from adapter.data import visit_schedule
from adapter.domain.eligibility import Track
from adapter.domain.visitplan import plan, retime
from adapter.mapping.careplan_out import to_careplan
from bench.auth import session
from bench.decision import Rate, measure
from bench.load import LoadResult, send_all
from bench.referrals import distinct

INTAKE = date(2026, 3, 2)
#: Late Start at 37+3 weeks: 55 visits, nothing thinned or flagged (the issue's "55-visit plan")
LATE_START_EDD = INTAKE + timedelta(days=280 - 262)
#: VoorZorg at 14 weeks (the README example): 60 visits after thinning the infancy phase
VOORZORG_EDD = date(2026, 8, 31)


def in_process(calls: int) -> list[Rate]:
    schedule = visit_schedule()
    late = plan(Track.LATE_START, INTAKE, LATE_START_EDD, schedule=schedule)
    assert late.visit_count == 55 and not late.adjustments, late.adjustments
    early = plan(Track.VOORZORG, INTAKE, VOORZORG_EDD, schedule=schedule)
    assert early.visit_count == 60
    done = [v.sequence for v in early.visits[:8]]
    born = VOORZORG_EDD - timedelta(days=21)

    def plan_and_map() -> object:
        p = plan(Track.LATE_START, INTAKE, LATE_START_EDD, schedule=schedule)
        return to_careplan(p, careplan_id="x", patient_ref="Patient/x", referral_ref="ServiceRequest/x")

    return [
        measure(
            "`plan()` — Late Start, 55 visits",
            lambda: plan(Track.LATE_START, INTAKE, LATE_START_EDD, schedule=schedule),
            calls,
        ),
        measure("`plan()` + `to_careplan()` — 55 visits as a CarePlan", plan_and_map, calls),
        measure(
            "`plan()` — VoorZorg at 14 weeks, 60 visits after thinning",
            lambda: plan(Track.VOORZORG, INTAKE, VOORZORG_EDD, schedule=schedule),
            calls,
        ),
        measure(
            "`retime()` — born 3 weeks early, 8 visits recorded",
            lambda: retime(early, born, done, schedule=schedule),
            calls,
        ),
    ]


def over_http(base: str, label: str, clients: int, concurrency: int, run_id: str) -> list[LoadResult]:
    """`clients` new referrals (accepted, each with its plan), then `$apply` for each of them.

    `$apply` of her track answers the plan intake made (a read through the operation); `$apply` of
    VoorZorg Verder makes a new CarePlan each (a write: plan, map, validate nothing, store, audit).
    """
    subjects: list[str] = []
    with session() as s:
        for body in distinct(clients, f"{run_id}-apply-{label}", seed=7):
            r = s.post(f"{base}/", data=body, timeout=60)
            r.raise_for_status()
            patient = next(
                e["resource"]["id"] for e in r.json()["entry"] if e["resource"]["resourceType"] == "Patient"
            )
            subjects.append(f"Patient/{patient}")

    def params(subject: str) -> bytes:
        body = {"resourceType": "Parameters", "parameter": [{"name": "subject", "valueString": subject}]}
        return json.dumps(body).encode()

    bodies = [params(s) for s in subjects]
    return [
        send_all(
            f"`$apply` voorzorg, her plan exists ({label})",
            f"{base}/PlanDefinition/voorzorg-plan-voorzorg/$apply",
            bodies,
            concurrency,
            '"CarePlan"',
        ),
        send_all(
            f"`$apply` voorzorg-verder, a new CarePlan ({label})",
            f"{base}/PlanDefinition/voorzorg-plan-voorzorg-verder/$apply",
            bodies,
            concurrency,
            '"voorzorg-verder"',
            ok_statuses=(201,),
        ),
    ]
