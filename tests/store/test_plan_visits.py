"""The `plan_visit` rows (adapter.store.plan_visits) follow the current version of each CarePlan: written
with it, replaced when it changes, gone when it is deleted; migration 0011 fills them for the plans stored
before it. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

from adapter.mapping.careplan_out import KIND_EXT
from adapter.store.engine import Store
from adapter.store.plan_visits import KIND_EXT as STORED_KIND_EXT
from adapter.store.schema import plan_visit, resource

REFERRAL = "ServiceRequest/r1"
CANONICAL = "https://fhir.voorzorg.nl/PlanDefinition/voorzorg-plan-voorzorg"


def _activity(day: str | None, status: str, kind: str = "home-visit") -> dict[str, Any]:
    detail: dict[str, Any] = {
        "extension": [{"url": KIND_EXT, "valueCode": kind}],
        "kind": "Appointment",
        "status": status,
    }
    if day is not None:
        detail["scheduledPeriod"] = {"start": day, "end": day}
    return {"detail": detail}


def _plan(*activities: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "CarePlan",
        "id": "plan-1",
        "status": "active",
        "intent": "plan",
        "subject": {"reference": "Patient/p1"},
        "instantiatesCanonical": [CANONICAL],
        "supportingInfo": [{"reference": REFERRAL}],
        "activity": list(activities),
    }


def _rows(store: Store) -> list[tuple[Any, ...]]:
    v = plan_visit.c
    with store.engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                select(v.res_id, v.referral, v.canonical, v.day, v.status, v.kind).order_by(v.day)
            )
        ]


def test_the_kind_extension_is_the_plans() -> None:
    assert STORED_KIND_EXT == KIND_EXT


def test_rows_follow_the_current_version(store: Store) -> None:
    plan = _plan(
        _activity("2026-02-01", "completed"),
        _activity("2026-03-01T10:00:00+01:00", "not-started", "evaluation"),
        _activity(None, "not-started"),  # no date: no row
    )
    store.write(lambda s: s.put(plan))
    assert _rows(store) == [
        ("plan-1", REFERRAL, CANONICAL, "2026-02-01", "completed", "home-visit"),
        ("plan-1", REFERRAL, CANONICAL, "2026-03-01", "not-started", "evaluation"),
    ]
    store.write(lambda s: s.put(_plan(_activity("2026-04-01", "cancelled"))))
    assert _rows(store) == [("plan-1", REFERRAL, CANONICAL, "2026-04-01", "cancelled", "home-visit")]
    store.write(lambda s: s.delete("CarePlan", "plan-1"))
    assert _rows(store) == []
    store.write(lambda s: s.put(_plan(_activity("2026-05-01", "completed"))))
    assert _rows(store) == [("plan-1", REFERRAL, CANONICAL, "2026-05-01", "completed", "home-visit")]


def test_the_migration_fills_the_plans_already_stored(store: Store) -> None:
    from alembic import command
    from alembic.config import Config

    import adapter.store.engine as engine

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(engine.__file__).parent / "migrations"))
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0010_export")
    plan = _plan(_activity("2026-02-01", "completed"), _activity("2026-09-01", "not-started"))
    with store.engine.begin() as conn:  # as an adapter before 0011 stored it
        conn.execute(
            insert(resource).values(
                res_type="CarePlan",
                res_id="plan-1",
                version_id=1,
                last_updated="2026-01-01T00:00:00Z",
                deleted=False,
                content=json.dumps(plan),
            )
        )
    store.migrate()
    assert _rows(store) == [
        ("plan-1", REFERRAL, CANONICAL, "2026-02-01", "completed", "home-visit"),
        ("plan-1", REFERRAL, CANONICAL, "2026-09-01", "not-started", "home-visit"),
    ]
