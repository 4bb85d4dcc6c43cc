"""Theme assessments and goals, stored against the client and her care plan; the themes at a glance.

An assessment (Observation, profile voorzorg-theme-observation) is about the client (the mother) or,
where the theme is about the child, about her child: a Patient linked to her (`Patient.link`, type
seealso, as the birth report makes it). A goal (Goal, profile voorzorg-theme-goal) is stored and
appended to the client's running CarePlan (`CarePlan.goal`) in the same transaction, so the plan
always lists its goals. The sender's identifier makes a resend harmless: the same resource again (a
new version only when something changed), never a second one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from adapter.config import CANONICAL_BASE
from adapter.data import theme_scale, themes
from adapter.domain.themes import ThemeStatus, overview
from adapter.fhir.models import check_structure
from adapter.fhir.outcome import FhirError, version_conflict
from adapter.fhir.validator import has_errors, validate
from adapter.mapping.themes_in import (
    THEME_SYSTEM,
    assessment_of,
    code_in,
    goal_of,
    goal_theme,
    is_theme_assessment,
)
from adapter.security.access import Viewer
from adapter.store.engine import Store
from adapter.store.session import Alternative, Match, Session, Stored, VersionConflict, Write, new_id

THEME_OBSERVATION_PROFILE = f"{CANONICAL_BASE}/StructureDefinition/voorzorg-theme-observation"
THEME_GOAL_PROFILE = f"{CANONICAL_BASE}/StructureDefinition/voorzorg-theme-goal"
#: CarePlan statuses of a plan that still runs (goals are added to it; a revoked or completed plan stays).
RUNNING_PLAN = ("active", "on-hold", "draft")
#: Patient.link.type by which a child names its mother (the birth report, adapter/workflows/birth.py).
CHILD_LINK = "seealso"


@dataclass(frozen=True)
class GoalWritten:
    goal: Write
    careplan: Write | None  # the plan that now lists the goal (None: it already did)
    client: str  # the mother: "Patient/id"


@dataclass(frozen=True)
class Themes:
    statuses: tuple[ThemeStatus, ...]
    read: tuple[Stored, ...]  # every resource the view was made of (for the audit)


# --- assessments --------------------------------------------------------------------------------
def record_assessment(store: Store, observation: dict[str, Any]) -> Write:
    """Store a theme assessment; 4xx naming the element when it is none or does not fit."""
    _check_type(observation, "Observation")
    if not is_theme_assessment(observation):
        raise FhirError.one(
            422,
            f"Not a theme assessment: Observation.code names none of the VoorZorg themes ({THEME_SYSTEM})",
            "Observation.code",
            code="not-supported",
        )
    _conform(observation, THEME_OBSERVATION_PROFILE)
    subject = _patient_reference(observation, "Observation.subject")

    def work(s: Session) -> Write:
        mother, _ = _client(s, subject, "Observation.subject")
        _check_encounter(s, observation, mother)
        oid = _identity(s, observation, subject, is_theme_assessment)
        return s.put(_claiming({**observation, "id": oid}, THEME_OBSERVATION_PROFILE))

    return store.write(work)


def _check_encounter(s: Session, observation: dict[str, Any], mother: str) -> None:
    ref = observation.get("encounter", {}).get("reference")
    if not isinstance(ref, str):
        return
    found = s.get(*ref.split("/", 1)) if ref.count("/") == 1 else None
    if found is None or found.deleted or found.res_type != "Encounter":
        raise FhirError.one(422, f"{ref} is not known", "Observation.encounter", code="not-found")
    if found.content.get("subject", {}).get("reference") != mother:
        raise FhirError.one(
            422, f"{ref} is a home visit to another client", "Observation.encounter", code="business-rule"
        )


# --- goals --------------------------------------------------------------------------------------
def record_goal(store: Store, goal: dict[str, Any]) -> GoalWritten:
    """Store a theme goal and list it in the client's running CarePlan, in one transaction."""
    _check_type(goal, "Goal")
    _conform(goal, THEME_GOAL_PROFILE)
    subject = _patient_reference(goal, "Goal.subject")

    def work(s: Session) -> GoalWritten:
        mother, plan = _client(s, subject, "Goal.subject")
        _check_addresses(s, goal, subject)
        gid = _identity(s, goal, subject, lambda existing: goal_theme(existing) is not None)
        written = s.put(_claiming({**goal, "id": gid}, THEME_GOAL_PROFILE))
        return GoalWritten(written, _list_in_plan(s, plan, written.stored), mother)

    return store.write(work)


def update_goal(store: Store, goal_id: str, goal: dict[str, Any], if_match: int | None) -> GoalWritten:
    """A new version of a goal (its achievement or lifecycle status, target, ...): same client, same
    theme; with If-Match, only on the version the sender last saw (else 412)."""
    _check_type(goal, "Goal")
    if goal.get("id") != goal_id:
        raise FhirError.one(
            400, f"Resource id {goal.get('id')!r} does not match the URL's {goal_id!r}", "Goal.id"
        )
    _conform(goal, THEME_GOAL_PROFILE)
    subject = _patient_reference(goal, "Goal.subject")

    def work(s: Session) -> GoalWritten:
        current = s.get("Goal", goal_id)
        if current is None:
            raise FhirError.one(404, f"Goal/{goal_id} is not known", code="not-found")
        if current.deleted:
            raise FhirError.one(410, f"Goal/{goal_id} was deleted", code="deleted")
        if current.content.get("subject", {}).get("reference") != subject:
            raise FhirError.one(
                422,
                "A goal stays with its client: Goal.subject cannot change",
                "Goal.subject",
                code="business-rule",
            )
        if goal_theme(current.content) != goal_theme(goal):
            raise FhirError.one(
                422,
                "A goal stays in its theme: make a new goal for another theme",
                "Goal.category[0]",
                code="business-rule",
            )
        _check_addresses(s, goal, subject)
        _claim_identifiers(s, goal, goal_id)
        try:
            written = s.put(_claiming(goal, THEME_GOAL_PROFILE), if_match=if_match)
        except VersionConflict as e:
            if if_match is None:
                raise  # a concurrent writer: Store.write runs this again on the new version
            raise version_conflict("Goal", if_match, e.current) from None
        mother, plan = _find_client(s, subject, "Goal.subject")
        return GoalWritten(written, _list_in_plan(s, plan, written.stored) if plan else None, mother)

    return store.write(work)


def _list_in_plan(s: Session, plan: Stored, goal: Stored) -> Write | None:
    refs = [g for g in plan.content.get("goal", []) if isinstance(g, dict)]
    if any(g.get("reference") == goal.reference for g in refs):
        return None
    return s.put({**plan.content, "goal": [*refs, {"reference": goal.reference}]})


def _check_addresses(s: Session, goal: dict[str, Any], subject: str) -> None:
    """The assessments a goal responds to are assessments of its own theme and subject."""
    theme = goal_theme(goal)
    for i, a in enumerate(goal.get("addresses", [])):
        ref = a.get("reference")
        if not isinstance(ref, str):
            continue
        found = s.get(*ref.split("/", 1)) if ref.count("/") == 1 else None
        if found is None or found.deleted or found.res_type != "Observation":
            raise FhirError.one(422, f"{ref} is not known", f"Goal.addresses[{i}]", code="not-found")
        if (
            code_in(found.content.get("code"), THEME_SYSTEM) != theme
            or found.content.get("subject", {}).get("reference") != subject
        ):
            raise FhirError.one(
                422,
                f"{ref} is not an assessment of this goal's theme and subject",
                f"Goal.addresses[{i}]",
                code="business-rule",
            )


# --- the themes at a glance ---------------------------------------------------------------------
def theme_overview(store: Store, viewer: Viewer, patient_id: str) -> Themes:
    """Latest assessment, trend since the first one and goals per theme, for the client and her
    children, as far as the caller may see them (`viewer`)."""
    theme_codes = tuple(Alternative(value=t.code, system=THEME_SYSTEM) for t in themes())
    with store.reading() as s:
        mother = viewer.found(s, f"Patient/{patient_id}")
        patient = mother.reference
        children = [
            p
            for p in s.every(
                "Patient", [Match("link", (Alternative(value=patient),)), *viewer.limits("Patient")]
            )
            if any(
                link.get("type") == CHILD_LINK and link.get("other", {}).get("reference") == patient
                for link in p.content.get("link", [])
            )
        ]
        subjects = Match(
            "subject", tuple(Alternative(value=r) for r in [patient, *(c.reference for c in children)])
        )
        observations = s.every(
            "Observation", [subjects, Match("code", theme_codes), *viewer.limits("Observation")]
        )
        goals = s.every("Goal", [subjects, *viewer.limits("Goal")])
    assessments = [a for o in observations if (a := assessment_of(o.reference, o.content, o.last_updated))]
    states = [g for goal in goals if (g := goal_of(goal.reference, goal.content))]
    statuses = overview(patient, themes(), theme_scale(), assessments, states)
    return Themes(statuses, (mother, *children, *observations, *goals))


# --- shared checks ------------------------------------------------------------------------------
def _check_type(resource: Any, expected: str) -> None:
    check_structure(resource)
    if resource.get("resourceType") != expected:
        raise FhirError.one(
            400,
            f"The body is a {resource.get('resourceType')}, this endpoint takes a {expected}",
            "resourceType",
        )


def _conform(resource: dict[str, Any], profile: str) -> None:
    issues = validate(resource, profile)
    if has_errors(issues):
        raise FhirError(422, [i for i in issues if i.severity in ("error", "fatal")])


def _patient_reference(resource: dict[str, Any], element: str) -> str:
    ref = resource.get("subject", {}).get("reference")
    if not isinstance(ref, str) or not ref.startswith("Patient/") or ref.count("/") != 1:
        raise FhirError.one(
            422,
            "Must reference the client or her child as Patient/[id]",
            f"{element}.reference",
            code="required",
        )
    return ref


def running_plan(s: Session, patient: str) -> Stored | None:
    """The client's CarePlan that still runs (the newest, should there be more)."""
    _, plans = s.search(
        "CarePlan",
        [
            Match("patient", (Alternative(value=patient),)),
            Match("status", tuple(Alternative(value=st) for st in RUNNING_PLAN)),
        ],
        1,
        0,
        newest_first=True,
    )
    return plans[0] if plans else None


def _find_client(s: Session, subject: str, element: str) -> tuple[str, Stored | None]:
    """(the mother, her running CarePlan or None) for a subject that is the mother or her child."""
    found = s.get(*subject.split("/", 1))
    if found is None or found.deleted:
        raise FhirError.one(422, f"{subject} is not known", element, code="not-found")
    mothers = [
        ref
        for link in found.content.get("link", [])
        if link.get("type") == CHILD_LINK
        and (ref := str(link.get("other", {}).get("reference", ""))).startswith("Patient/")
    ]
    for candidate in [subject, *mothers]:
        plan = running_plan(s, candidate)
        if plan is not None:
            return candidate, plan
    return (mothers[0] if mothers else subject), None


def _client(s: Session, subject: str, element: str) -> tuple[str, Stored]:
    """(the mother, her running CarePlan); 422 when the subject is neither a client nor her child."""
    mother, plan = _find_client(s, subject, element)
    if plan is not None:
        return mother, plan
    raise FhirError.one(
        422,
        f"{subject} is not a VoorZorg client with a running care plan, nor the child of one",
        element,
        code="business-rule",
    )


def _identity(
    s: Session, resource: dict[str, Any], subject: str, same_kind: Callable[[dict[str, Any]], bool]
) -> str:
    """The id this resource is stored under: the one its identifier already names, else a new one.

    An identifier that already names another client's resource, or another kind of resource, is a
    conflict (409), never an overwrite.
    """
    rtype = resource["resourceType"]
    for i, ident in enumerate(resource.get("identifier", [])):
        if not (ident.get("system") and ident.get("value")):
            continue
        rid = s.claim_key(rtype, ident["system"], ident["value"], new_id())
        existing = s.get(rtype, rid)
        if (
            existing is not None
            and not existing.deleted
            and (
                existing.content.get("subject", {}).get("reference") != subject
                or not same_kind(existing.content)
            )
        ):
            raise _taken(rtype, i)
        return rid
    return new_id()


def _claim_identifiers(s: Session, resource: dict[str, Any], rid: str) -> None:
    """Every identifier of an updated resource names it (409 when one already names another)."""
    rtype = resource["resourceType"]
    for i, ident in enumerate(resource.get("identifier", [])):
        if (
            ident.get("system")
            and ident.get("value")
            and s.claim_key(rtype, ident["system"], ident["value"], rid) != rid
        ):
            raise _taken(rtype, i)


def _taken(rtype: str, i: int) -> FhirError:
    return FhirError.one(
        409,
        f"This identifier already names another {rtype}: another client's, or not a theme {rtype}",
        f"{rtype}.identifier[{i}]",
        code="conflict",
    )


def _claiming(resource: dict[str, Any], profile: str) -> dict[str, Any]:
    """The resource claiming its profile in meta.profile (as every resource the adapter keeps does)."""
    meta = dict(resource.get("meta", {}))
    profiles = [p for p in meta.get("profile", []) if p != profile]
    meta["profile"] = [profile, *profiles]
    return {**resource, "meta": meta}
