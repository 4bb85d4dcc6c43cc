"""`/metadata` and the conformance resources: what this server is, built from the same data it runs on.

The CapabilityStatement lists the search parameters the store indexes (mappings/search-parameters.yaml)
and the profiles, CodeSystems and ValueSets of the compiled package (profiles/), so it cannot drift
from what the server actually does.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from adapter.api import capability, consult, measures, path
from adapter.api.context import accept_checked, ctx, page
from adapter.api.responses import FhirResponse
from adapter.api.rest import CREATABLE, UPDATABLE
from adapter.api.search_results import paged_searchset
from adapter.config import CANONICAL_BASE, Settings
from adapter.data import conformance_resources, stored_types
from adapter.export.runner import EXPORT_OPERATION, GROUP_EXPORT_OPERATION
from adapter.fhir.outcome import FhirError
from adapter.fhir.search import refuse_unknown

router = APIRouter(dependencies=[Depends(accept_checked)])

CONFORMANCE_TYPES = (
    "CodeSystem",
    "ValueSet",
    "StructureDefinition",
    "NamingSystem",
    "OperationDefinition",
    "PlanDefinition",
    "Measure",
)


def check_eligibility_definition() -> dict[str, Any]:
    def out(name: str, type_: str, lo: int, hi: str, doc: str) -> dict[str, Any]:
        return {"name": name, "use": "out", "min": lo, "max": hi, "type": type_, "documentation": doc}

    return {
        "resourceType": "OperationDefinition",
        "id": "check-eligibility",
        "url": f"{CANONICAL_BASE}/OperationDefinition/check-eligibility",
        "name": "CheckEligibility",
        "title": "Check a referral against the VoorZorg eligibility rules",
        "status": "active",
        "kind": "operation",
        "code": "check-eligibility",
        "system": True,
        "type": False,
        "instance": False,
        "affectsState": False,
        "description": "Decides the VoorZorg track of a referral Bundle without storing anything.",
        "parameter": [
            {
                "name": "referral",
                "use": "in",
                "min": 1,
                "max": "1",
                "type": "Bundle",
                "documentation": "The referral transaction Bundle (or send the Bundle itself as the body)",
            },
            out(
                "track",
                "Coding",
                1,
                "1",
                "voorzorg, voorzorg-2, late-start, consult, not-eligible, incomplete",
            ),
            out("reason", "Coding", 0, "*", "Why (voorzorg-decision-reason)"),
            out("evidence", "code", 0, "1", "proven-effective or under-research"),
            out("consultRequired", "boolean", 1, "1", "A VoorZorg Consult request must be made"),
            out("missing", "string", 0, "*", "For incomplete: each missing item"),
            out(
                "confirmAtIntake",
                "Coding",
                0,
                "*",
                "A referral item not reported, taken as none known, that the nurse confirms at the intake "
                "visit (voorzorg-referral-item#forced-framework)",
            ),
            out("gestationalAgeDays", "integer", 0, "1", "Gestational age at the referral date"),
            out("childAgeDays", "integer", 0, "1", "Age of the child at the referral date"),
            out("explanation", "string", 1, "1", "The decision in words"),
        ],
    }


def _param(
    name: str,
    use: str,
    lo: int,
    hi: str,
    type_: str | None,
    doc: str,
    part: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """An OperationDefinition.parameter: a type, or parts (opd-1: never neither)."""
    p: dict[str, Any] = {"name": name, "use": use, "min": lo, "max": hi, "documentation": doc}
    return {**p, "type": type_} if type_ else {**p, "part": part or []}


def _visit_counts(phase: bool) -> list[dict[str, Any]]:
    """The parts of $progress's total and of each phase."""
    counts = [
        _param("planned", "out", 1, "1", "integer", "Visits the plan holds"),
        _param("done", "out", 1, "1", "integer", "Visits done (activity completed)"),
        _param("missed", "out", 1, "1", "integer", "Visits that did not happen (activity cancelled)"),
        _param("unrecorded", "out", 1, "1", "integer", "Visits past their period with nothing recorded"),
        _param("upcoming", "out", 1, "1", "integer", "Visits still to come"),
    ]
    if phase:
        counts.insert(0, _param("phase", "out", 1, "1", "code", "The phase of the visit rhythm"))
    return counts


def progress_definition() -> dict[str, Any]:
    return {
        "resourceType": "OperationDefinition",
        "id": "careplan-progress",
        "url": f"{CANONICAL_BASE}/OperationDefinition/careplan-progress",
        "name": "CarePlanProgress",
        "status": "active",
        "kind": "operation",
        "code": "progress",
        "resource": ["CarePlan"],
        "system": False,
        "type": False,
        "instance": True,
        "affectsState": False,
        "description": "Done, planned, missed, unrecorded and upcoming visits per phase on a date, and "
        "whether the plan is on track (missed plus long-unrecorded visits at most 20% of the due visits).",
        "parameter": [
            _param("date", "in", 0, "1", "date", "The date to count on (default: today)"),
            _param("date", "out", 1, "1", "date", "The date counted on"),
            _param("onTrack", "out", 1, "1", "boolean", "Missed plus long-unrecorded visits at most 20%"),
            _param("total", "out", 1, "1", None, "The counts of the whole plan", _visit_counts(False)),
            _param("phase", "out", 0, "*", None, "The counts per phase", _visit_counts(True)),
        ],
    }


def _theme_parts() -> list[dict[str, Any]]:
    def out(name: str, lo: int, type_: str, doc: str) -> dict[str, Any]:
        return _param(name, "out", lo, "1", type_, doc)

    goal = [
        out("reference", 1, "Reference", "The Goal"),
        out("lifecycleStatus", 1, "code", "Goal.lifecycleStatus"),
        out("description", 0, "string", "Goal.description.text"),
        out("achievementStatus", 0, "Coding", "Goal.achievementStatus"),
        out("target", 0, "Coding", "The level it aims at (voorzorg-theme-assessment)"),
        out("due", 0, "date", "Goal.target.dueDate"),
        out("targetMet", 0, "boolean", "Whether the latest assessment reached the target level"),
    ]
    return [
        out("code", 1, "Coding", "The theme (voorzorg-theme)"),
        out("subject", 1, "Reference", "The client, or her child"),
        out("assessments", 1, "integer", "How many assessments of the theme"),
        *(
            out(f"{which}{suffix}", 0, type_, f"The {which} assessment{what}")
            for which in ("latest", "baseline")
            for suffix, type_, what in (
                ("", "Coding", ": its level"),
                ("Date", "dateTime", ": when"),
                ("Assessment", "Reference", ": the Observation"),
            )
        ),
        out("trend", 0, "Coding", "voorzorg-theme-trend: improved, unchanged, worsened, baseline-only"),
        out("change", 0, "integer", "Steps on the concern scale from baseline to latest"),
        _param("goal", "out", 0, "*", None, "The theme's goals", goal),
    ]


def themes_definition() -> dict[str, Any]:
    summary = [
        _param(name, "out", 1, "1", "integer", doc)
        for name, doc in (
            ("assessed", "Themes assessed at least once"),
            ("notAssessed", "Themes never assessed"),
            ("improved", "Themes whose trend is improved"),
            ("unchanged", "Themes whose trend is unchanged"),
            ("worsened", "Themes whose trend is worsened"),
            ("baseline-only", "Themes assessed once"),
            ("goals", "Goals"),
            ("goalsTargetMet", "Goals whose target level the latest assessment reached"),
        )
    ]
    return {
        "resourceType": "OperationDefinition",
        "id": "patient-themes",
        "url": f"{CANONICAL_BASE}/OperationDefinition/patient-themes",
        "name": "PatientThemes",
        "title": "The nine VoorZorg themes of a client at a glance",
        "status": "active",
        "kind": "operation",
        "code": "themes",
        "resource": ["Patient"],
        "system": False,
        "type": False,
        "instance": True,
        "affectsState": False,
        "description": "Per theme (CodeSystem voorzorg-theme) and subject (the client, then her child): the "
        "latest assessment, the first one (the baseline, normally at intake), the trend between them on the "
        "ordinal concern scale (voorzorg-theme-trend), and the theme's goals with their achievement status "
        "and whether the latest assessment reached the level they aim at; and a summary.",
        "parameter": [
            _param("patient", "out", 1, "1", "Reference", "The client"),
            _param("summary", "out", 1, "1", None, "Counts over all themes", summary),
            _param("theme", "out", 0, "*", None, "Per theme and subject", _theme_parts()),
        ],
    }


def _conformance() -> list[dict[str, Any]]:
    return [
        *conformance_resources(),
        check_eligibility_definition(),
        progress_definition(),
        themes_definition(),
        consult.request_consult_definition(),
        consult.accept_advice_definition(),
        *path.definitions(),
        measures.evaluate_definition(),
    ]


SUBSCRIPTION_STATUS = (
    "http://hl7.org/fhir/uv/subscriptions-backport/OperationDefinition/backport-subscription-status"
)
#: Operations on instances of a type, besides $validate (which every stored type has).
_INSTANCE_OPERATIONS = {
    "CarePlan": [
        {"name": "progress", "definition": f"{CANONICAL_BASE}/OperationDefinition/careplan-progress"}
    ],
    "Patient": [{"name": "themes", "definition": f"{CANONICAL_BASE}/OperationDefinition/patient-themes"}],
    "Subscription": [{"name": "status", "definition": SUBSCRIPTION_STATUS}],
}
for _operations in (consult.OPERATIONS, path.OPERATIONS):  # $request-consult, $accept-advice; the path's
    for _rtype, _ops in _operations.items():
        _INSTANCE_OPERATIONS[_rtype] = [*_INSTANCE_OPERATIONS.get(_rtype, []), *_ops]
_INSTANCE_OPERATIONS["Group"] = [{"name": "export", "definition": GROUP_EXPORT_OPERATION}]
_VALIDATE = {"name": "validate", "definition": "http://hl7.org/fhir/OperationDefinition/Resource-validate"}
_APPLY = {"name": "apply", "definition": "http://hl7.org/fhir/OperationDefinition/PlanDefinition-apply"}


#: The writes a generic client can make, per type, as the routes take them (rest.py and the routers of
#: care, themes, sharing, notifications, subscriptions).
WRITES: dict[str, tuple[str, ...]] = {
    **{t: ("create",) for t in CREATABLE - UPDATABLE},
    **{t: ("update", "create") for t in UPDATABLE & CREATABLE},
    **{t: ("update",) for t in UPDATABLE - CREATABLE},
}


def capability_statement(settings: Settings) -> dict[str, Any]:
    operations = {t: [_VALIDATE, *_INSTANCE_OPERATIONS.get(t, [])] for t in stored_types()}
    conformance = {t: [_APPLY] if t == "PlanDefinition" else [] for t in CONFORMANCE_TYPES}
    conformance["Measure"] = list(measures.OPERATIONS["Measure"])
    check = f"{CANONICAL_BASE}/OperationDefinition/check-eligibility"
    system = [
        {"name": "check-eligibility", "definition": check},
        {"name": "process-message", "definition": path.PROCESS_MESSAGE},
        {"name": "export", "definition": EXPORT_OPERATION},
    ]
    return capability.capability_statement(
        settings,
        writes=WRITES,
        instance_operations=operations,
        conformance=conformance,
        system_operations=system,
    )


@router.get("/metadata")
def metadata(request: Request) -> FhirResponse:
    return FhirResponse(capability_statement(ctx(request).settings))


def _conformance_route(rtype: str) -> None:
    @router.get(f"/{rtype}/{{resource_id}}", name=f"read {rtype}")
    def read(resource_id: str) -> FhirResponse:
        for r in _conformance():
            if r["resourceType"] == rtype and r.get("id") == resource_id:
                return FhirResponse(r)
        raise FhirError.one(404, f"{rtype}/{resource_id} is not known", code="not-found")

    @router.get(f"/{rtype}", name=f"search {rtype}")
    def search(request: Request) -> FhirResponse:
        q = request.query_params
        refuse_unknown(rtype, set(q), {"url", "name", "_format", "_count", "_offset"})
        found = [
            r
            for r in _conformance()
            if r["resourceType"] == rtype
            and ("url" not in q or r.get("url") == q["url"].split("|")[0])
            and ("name" not in q or q["name"].lower() in str(r.get("name", "")).lower())
        ]
        base = ctx(request).base
        entries = [
            {"fullUrl": f"{base}/{rtype}/{r['id']}", "resource": r, "search": {"mode": "match"}}
            for r in found
        ]
        count, offset = page(request)
        return FhirResponse(paged_searchset(f"{base}/{rtype}", list(q.multi_items()), entries, count, offset))


for _rtype in CONFORMANCE_TYPES:
    _conformance_route(_rtype)
