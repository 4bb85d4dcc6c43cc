"""Home visits recorded against the care plan, and the plan's progress.

A visit is an Encounter (profile voorzorg-home-visit) based on the referral. When it names its planned
visit (extension visit-sequence), that activity of the CarePlan becomes completed (finished visit) or
cancelled (a visit that did not happen, i.e. missed) and points at the Encounter. A visit without a
sequence is an unplanned extra visit: stored, and not counted against the plan.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from adapter.config import CANONICAL_BASE
from adapter.data import visit_schedule
from adapter.domain.visitplan import Progress, progress
from adapter.fhir.models import check_structure
from adapter.fhir.outcome import FhirError, Issue
from adapter.fhir.validator import has_errors, validate
from adapter.mapping.careplan_out import SEQUENCE_EXT, activity_sequence, visit_plan_of
from adapter.mapping.ids import careplan_id
from adapter.security.access import Viewer
from adapter.store.engine import Store
from adapter.store.session import Session, Stored, Write, new_id

HOME_VISIT_PROFILE = f"{CANONICAL_BASE}/StructureDefinition/voorzorg-home-visit"
#: Encounter.status -> the status its planned visit gets in the CarePlan
ACTIVITY_STATUS = {"finished": "completed", "cancelled": "cancelled"}


def record_visit(store: Store, encounter: dict[str, Any]) -> tuple[Write, Write | None]:
    """Store the Encounter and mark its planned visit; 422 naming the element when it does not fit."""
    check_structure(encounter)
    if encounter.get("resourceType") != "Encounter":
        raise FhirError.one(400, "A home visit is recorded as an Encounter", "resourceType")
    issues = validate(encounter, HOME_VISIT_PROFILE)
    if has_errors(issues):
        raise FhirError(422, [i for i in issues if i.severity in ("error", "fatal")])
    referral = next(
        (
            b["reference"]
            for b in encounter.get("basedOn", [])
            if b.get("reference", "").startswith("ServiceRequest/")
        ),
        None,
    )
    if referral is None:
        raise FhirError.one(
            422, "A home visit is based on the VoorZorg referral", "Encounter.basedOn", code="required"
        )
    sequence = next(
        (e.get("valueInteger") for e in encounter.get("extension", []) if e.get("url") == SEQUENCE_EXT), None
    )

    def work(s: Session) -> tuple[Write, Write | None]:
        sr = s.get(*referral.split("/", 1))
        if sr is None or sr.deleted:
            raise FhirError.one(422, f"{referral} is not known", "Encounter.basedOn", code="not-found")
        client = sr.content.get("subject", {}).get("reference")
        if _local(encounter.get("subject", {}).get("reference")) != client:
            raise FhirError.one(
                422,
                f"A home visit's subject is the client of its referral and plan ({client})",
                "Encounter.subject",
            )
        ident = next((i for i in encounter.get("identifier", []) if i.get("system") and i.get("value")), None)
        eid = s.claim_key("Encounter", ident["system"], ident["value"], new_id()) if ident else new_id()
        written = s.put({**encounter, "id": eid})
        plan = s.get("CarePlan", careplan_id(sr.res_id))
        if sequence is None or plan is None or plan.deleted:
            return written, None
        return written, s.put(_mark(plan, int(sequence), written.stored, encounter.get("status", "")))

    return store.write(work)


def _local(reference: object) -> str | None:
    """`Patient/x` of a reference to it, relative or absolute."""
    if not isinstance(reference, str):
        return None
    parts = reference.rstrip("/").split("/")
    return "/".join(parts[-2:]) if len(parts) >= 2 else reference


def _mark(plan: Stored, sequence: int, encounter: Stored, status: str) -> dict[str, Any]:
    content = dict(plan.content)
    activities = [dict(a) for a in content.get("activity", [])]
    i = next((n for n, a in enumerate(activities) if activity_sequence(a) == sequence), None)
    if i is None:
        raise FhirError(
            422, [Issue(f"The care plan has no planned visit {sequence}", ("Encounter.extension",))]
        )
    detail = dict(activities[i]["detail"])
    detail["status"] = ACTIVITY_STATUS.get(status, detail["status"])
    activities[i] = {
        **activities[i],
        "detail": detail,
        "outcomeReference": [{"reference": encounter.reference}],
    }
    content["activity"] = activities
    return content


def plan_progress(careplan: dict[str, Any], on_date: date) -> Progress:
    return progress(visit_plan_of(careplan), on_date, schedule=visit_schedule())


def progress_of(store: Store, viewer: Viewer, careplan_id: str, on_date: date) -> tuple[Stored, Progress]:
    """A care plan the caller may see, and its progress on `on_date`."""
    with store.reading() as s:
        stored = viewer.found(s, f"CarePlan/{careplan_id}")
    return stored, plan_progress(stored.content, on_date)


def progress_parameters(p: Progress) -> dict[str, Any]:
    def counts(
        name: str, planned: int, done: int, missed: int, upcoming: int, unrecorded: int
    ) -> dict[str, Any]:
        return {
            "name": name,
            "part": [
                {"name": "planned", "valueInteger": planned},
                {"name": "done", "valueInteger": done},
                {"name": "missed", "valueInteger": missed},
                {"name": "unrecorded", "valueInteger": unrecorded},
                {"name": "upcoming", "valueInteger": upcoming},
            ],
        }

    unrecorded = sum(ph.unrecorded for ph in p.phases)
    params: list[dict[str, Any]] = [
        {"name": "date", "valueDate": p.on_date.isoformat()},
        {"name": "onTrack", "valueBoolean": p.on_track},
        counts("total", p.planned, p.done, p.missed, p.upcoming, unrecorded),
    ]
    for ph in p.phases:
        entry = counts("phase", ph.planned, ph.done, ph.missed, ph.upcoming, ph.unrecorded)
        entry["part"].insert(0, {"name": "phase", "valueCode": ph.phase})
        params.append(entry)
    return {"resourceType": "Parameters", "parameter": params}
