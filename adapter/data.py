"""Loads the declarative data: rules and code lists under `mappings/`, conformance under `profiles/`.

This is the one place that reads those files; everything else receives typed objects. There is one
loader per file, cached: each file is read once per process (none is read on the hot path).

| file | loader |
| --- | --- |
| eligibility.yaml | `eligibility_rules()` (the one `full_term_days`, which the visit schedule uses too) |
| referral-codes.yaml | `referral_codes()` |
| input-limits.yaml | `input_limits()` |
| search-parameters.yaml | `search_parameters()` |
| task-transitions.yaml | `task_kinds()`, `task_kind()`, `task_transitions()`, `task_fixed()` |
| task-status.yaml | `task_status_rules()` |
| consult.yaml | `consult_rules()` |
| access-policy.yaml | `access_policy()`, `operation_roles()` |
| sharing.yaml | `sharing_rules()` |
| exchange.yaml | `exchange_flows()` (the raw flows; `adapter.exchange.routing` makes `Flow`s of them) |
| visit-schedule.yaml | `visit_schedule()` |
| path.yaml | `path_rules()` (the client's path: businessStatus per decision, phases, birth outcome limits) |
| export.yaml | `export_rules()` (Bulk Data $export: types, output formats, parameters) |
| pseudonymisation.yaml | `pseudonymisation_rules()` (what the research export removes and pseudonymises) |
| measures.yaml | `measure_definitions()` (typed by `adapter.monitoring.rules.measure_rules()`) |
"""

from __future__ import annotations

import gzip
import json
from functools import cache
from pathlib import Path
from typing import Any, Literal, TypedDict

import yaml

from adapter.config import CANONICAL_BASE, MAPPINGS_DIR, PROFILES_DIR
from adapter.domain.eligibility import EligibilityRules
from adapter.domain.programme import PathRules
from adapter.domain.themes import Scale, Theme
from adapter.domain.visitplan import Schedule, load_schedule

#: Where SUSHI writes the compiled FHIR package (committed; `profiles/scripts/build.sh` rebuilds it).
PACKAGE_DIR = PROFILES_DIR / "fsh-generated" / "resources"
#: What the validator needs of the FHIR R4 core package (committed; `profiles/scripts/core_definitions.py`
#: derives it from the npm package hl7.fhir.r4.examples@4.0.1 the profile build installs).
CORE_DEFINITIONS = PROFILES_DIR / "core" / "r4-core-definitions.json.gz"


def _mapping(name: str) -> dict[str, Any]:
    """One YAML file under mappings/, as read (only the cached loaders below call this)."""
    with (MAPPINGS_DIR / name).open(encoding="utf-8") as f:
        data: dict[str, Any] = yaml.safe_load(f)
    return data


class ReferralItem(TypedDict):
    label: str
    value: Literal["boolean", "integer", "dateTime", "Quantity"]
    codes: list[list[str]]  # [system key, code]


class ReferralCodes(TypedDict):
    """referral-codes.yaml: what a referral may carry and how its items are coded (contract v1)."""

    systems: dict[str, str]
    pregnancy_panel: list[list[str]]
    items: dict[str, ReferralItem]
    duration_units: dict[str, int]
    accepted_types: list[str]
    requester_identifier_systems: list[str]
    plausible_gestational_age_days: list[int]
    plausible_parity: list[int]
    plausible_gravidity: list[int]
    plausible_mother_age_years: list[int]
    earliest_date: str
    referral_date_max_days_ahead: int
    request_methods: list[str]
    profiles: dict[str, str]
    item_profiles: dict[str, str]


class InputLimits(TypedDict):
    """input-limits.yaml: what every request is held to before anything is computed or stored."""

    max_integer_digits: int
    max_query_integer: int
    max_length: dict[str, int]
    max_organization_length: int
    understood_modifier_extensions: list[str]


class SearchParameter(TypedDict, total=False):
    type: str
    expression: str
    target: str


class TaskKind(TypedDict, total=False):
    code: dict[str, str]
    transitions: dict[str, list[str]]
    moved_by: dict[str, list[str]]
    changes_by: dict[str, list[str]]
    changeable: list[str]
    final: list[str]
    sent: dict[str, list[str]]


class TaskStatusRules(TypedDict):
    by_track: dict[str, str]
    when_consult_required: str


class RolePolicy(TypedDict):
    data: str
    types: list[str] | str
    intake: str


class AccessPolicy(TypedDict):
    roles: dict[str, RolePolicy]
    consult_requests: dict[str, dict[str, str]]
    explicit_only: list[str]
    operations: dict[str, list[str]]
    report_audience: dict[str, str]


class SharingRules(TypedDict):
    recipients: dict[str, dict[str, str]]


@cache
def eligibility_rules() -> EligibilityRules:
    d = _mapping("eligibility.yaml")
    return EligibilityRules(
        full_term_days=int(d["full_term_days"]),
        late_pregnancy_days=int(d["late_pregnancy_days"]),
        max_child_age_days=int(d["max_child_age_days"]),
        max_age_proven_effective=int(d["max_age_proven_effective"]),
        modules_needing_training=frozenset(d["modules_needing_training"]),
        missing_items=dict(d.get("missing_items", {})),
        confirmed_at_intake=dict(d.get("confirmed_at_intake", {})),
        explanations=dict(d.get("explanations", {})),
    )


def own_system(codesystem_id: str) -> str:
    """Canonical URL of one of the project's CodeSystems."""
    return f"{CANONICAL_BASE}/CodeSystem/{codesystem_id}"


@cache
def referral_codes() -> ReferralCodes:
    codes: ReferralCodes = _mapping("referral-codes.yaml")  # type: ignore[assignment]
    return codes


@cache
def input_limits() -> InputLimits:
    limits: InputLimits = _mapping("input-limits.yaml")  # type: ignore[assignment]
    return limits


@cache
def conformance_resources() -> tuple[dict[str, Any], ...]:
    """Every resource of the compiled package (CodeSystems, ValueSets, StructureDefinitions, ...)."""
    out: list[dict[str, Any]] = []
    for path in sorted(Path(PACKAGE_DIR).glob("*.json")):
        with path.open(encoding="utf-8") as f:
            res = json.load(f)
        if isinstance(res, dict) and "resourceType" in res and res.get("resourceType") != "Bundle":
            out.append(res)
    return tuple(out)


@cache
def core_definitions() -> dict[str, Any]:
    """The R4 core StructureDefinitions (compact snapshots) and the expansions of the core ValueSets they
    bind as required: {"structureDefinitions": [...], "valueSets": {url: [[system, "code ..."], ...]}}."""
    with gzip.open(CORE_DEFINITIONS, "rt", encoding="utf-8") as f:
        data: dict[str, Any] = json.load(f)
    return data


def conformance_resource(resource_type: str, resource_id: str) -> dict[str, Any] | None:
    for res in conformance_resources():
        if res["resourceType"] == resource_type and res.get("id") == resource_id:
            return res
    return None


def codesystem_codes(codesystem_id: str) -> dict[str, str]:
    """code -> display of one of the project's CodeSystems (empty when the package lacks it)."""
    return dict(_codesystem_codes(codesystem_id))


@cache
def _codesystem_codes(codesystem_id: str) -> tuple[tuple[str, str], ...]:
    """Read once per CodeSystem (the package is read once): a referral's care plan asks ~60 times."""
    cs = conformance_resource("CodeSystem", codesystem_id)
    if cs is None:
        return ()
    out: dict[str, str] = {}

    def walk(concepts: list[dict[str, Any]]) -> None:
        for c in concepts:
            out[c["code"]] = c.get("display", c["code"])
            walk(c.get("concept", []))

    walk(cs.get("concept", []))
    return tuple(out.items())


@cache
def search_parameters() -> dict[str, dict[str, SearchParameter]]:
    """Resource type -> search parameter name -> {type, expression, target?}."""
    params: dict[str, dict[str, SearchParameter]] = _mapping("search-parameters.yaml")
    return params


@cache
def _task_states() -> dict[str, Any]:
    return _mapping("task-transitions.yaml")


def task_kinds() -> dict[str, TaskKind]:
    """Kind of Task (referral, consult) -> its state machine and update rules (task-transitions.yaml)."""
    kinds: dict[str, TaskKind] = _task_states()["kinds"]
    return kinds


def task_kind(task: dict[str, Any]) -> str:
    """The kind of a Task: the kind whose code it carries, else the default (the referral loop)."""
    codings = task.get("code", {}).get("coding", []) if isinstance(task.get("code"), dict) else []
    for kind, rules in task_kinds().items():
        code = rules.get("code")
        if code and any(c.get("system") == code["system"] and c.get("code") == code["code"] for c in codings):
            return kind
    return task_default_kind()


def task_fixed() -> tuple[str, ...]:
    """Task elements no update changes, whatever the kind or role (task-transitions.yaml `fixed`)."""
    return tuple(_task_states()["fixed"])


def task_default_kind() -> str:
    """The kind of a Task that carries no kind's code: the referral loop."""
    return str(_task_states()["default"])


@cache
def task_transitions(kind: str = "referral") -> dict[str, list[str]]:
    """Task.status -> the statuses it may move to, for one kind of Task (default: the referral loop)."""
    return task_kinds()[kind].get("transitions", {})


@cache
def task_status_rules() -> TaskStatusRules:
    """The referral Task's status per decided track (task-status.yaml)."""
    rules: TaskStatusRules = _mapping("task-status.yaml")  # type: ignore[assignment]
    return rules


@cache
def consult_rules() -> dict[str, Any]:
    """VoorZorg Consult: questions, the facts a request carries, what each advice means (consult.yaml)."""
    return _mapping("consult.yaml")


@cache
def capability_notes() -> dict[str, Any]:
    """What /metadata says of each resource, interaction and operation (capability.yaml)."""
    return _mapping("capability.yaml")


@cache
def access_policy() -> AccessPolicy:
    """Who may see and do what, per role (access-policy.yaml)."""
    policy: AccessPolicy = _mapping("access-policy.yaml")  # type: ignore[assignment]
    return policy


def operation_roles() -> dict[str, list[str]]:
    """Workflow operation -> the roles that may call it (access-policy.yaml `operations`)."""
    return access_policy().get("operations", {})


@cache
def measure_definitions() -> dict[str, Any]:
    """The monitoring's measures, as written (measures.yaml; adapter.monitoring.rules types them)."""
    return _mapping("measures.yaml")


@cache
def sharing_rules() -> SharingRules:
    """Per recipient of her data, what holds without a consent (sharing.yaml)."""
    rules: SharingRules = _mapping("sharing.yaml")  # type: ignore[assignment]
    return rules


@cache
def exchange_flows() -> dict[str, Any]:
    """The flows of exchange.yaml, as written (adapter.exchange.routing reads them into Flows)."""
    return _mapping("exchange.yaml")


@cache
def stored_types() -> frozenset[str]:
    """Resource types the store holds: what a referral may carry, plus what the adapter writes."""
    return frozenset(referral_codes()["accepted_types"]) | set(search_parameters())


def _limits(values: list[int]) -> tuple[int, int]:
    low, high = values
    return int(low), int(high)


@cache
def path_rules() -> PathRules:
    """The client's path (mappings/path.yaml): businessStatus per decision, phases, birth outcome limits."""
    d = _mapping("path.yaml")
    phases, birth = d["phases"], d["birth_outcome"]
    return PathRules(
        business_status=dict(d["business_status"]),
        toddler_from_months=int(phases["toddler_from_months"]),
        end_months=int(phases["end_months"]),
        gestational_age_at_birth_days=_limits(birth["gestational_age_at_birth_days"]),
        birth_weight_grams=_limits(birth["birth_weight_grams"]),
        full_term_days=eligibility_rules().full_term_days,
    )


@cache
def visit_schedule() -> Schedule:
    """The visit rhythm per track (mappings/visit-schedule.yaml), on the eligibility rules' full term."""
    data = _mapping("visit-schedule.yaml")
    return load_schedule(data, full_term_days=eligibility_rules().full_term_days)


THEME_CODESYSTEM = "voorzorg-theme"
SCALE_CODESYSTEM = "voorzorg-theme-assessment"
#: The CodeSystem property that orders the concern scale (0 = no concern; lower is better).
SCALE_ORDER_PROPERTY = "ordinalValue"


@cache
def themes() -> tuple[Theme, ...]:
    """The VoorZorg themes, in the order of CodeSystem voorzorg-theme (the list is data: it may change)."""
    cs = conformance_resource("CodeSystem", THEME_CODESYSTEM) or {}
    return tuple(
        Theme(
            code=c["code"],
            display=c.get("display", c["code"]),
            english=next(
                (d["value"] for d in c.get("designation", []) if d.get("language") == "en"),
                c.get("display", c["code"]),
            ),
        )
        for c in cs.get("concept", [])
    )


@cache
def theme_scale() -> Scale:
    """The concern scale of CodeSystem voorzorg-theme-assessment, ordered by its ordinalValue property."""
    cs = conformance_resource("CodeSystem", SCALE_CODESYSTEM) or {}
    levels = {
        c["code"]: int(p["valueInteger"])
        for c in cs.get("concept", [])
        for p in c.get("property", [])
        if p.get("code") == SCALE_ORDER_PROPERTY
    }
    return Scale(levels=levels)


class ExportRules(TypedDict):
    types: list[str]
    output_formats: list[str]
    parameters: list[str]
    page_size: int
    retry_after: int


class PseudonymisationRules(TypedDict):
    types: list[str]
    everywhere: list[str]
    remove: dict[str, list[str]]
    keep_only: dict[str, list[str]]
    year_month: dict[str, list[str]]
    reference_keeps: list[str]
    security: list[dict[str, str]]


@cache
def export_rules() -> ExportRules:
    """What $export writes and takes (export.yaml)."""
    rules: ExportRules = _mapping("export.yaml")  # type: ignore[assignment]
    return rules


@cache
def pseudonymisation_rules() -> PseudonymisationRules:
    """What the research export removes, cuts and pseudonymises (pseudonymisation.yaml)."""
    rules: PseudonymisationRules = _mapping("pseudonymisation.yaml")  # type: ignore[assignment]
    return rules
