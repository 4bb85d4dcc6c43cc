"""Loads the declarative data: rules and code lists under `mappings/`, conformance under `profiles/`.

This is the one place that reads those files; everything else receives plain objects. Each loader is
cached: the files are read once per process.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from adapter.config import CANONICAL_BASE, MAPPINGS_DIR, PROFILES_DIR
from adapter.domain.eligibility import EligibilityRules
from adapter.domain.themes import Scale, Theme
from adapter.domain.visitplan import Schedule, load_schedule

#: Where SUSHI writes the compiled FHIR package (committed; `profiles/scripts/build.sh` rebuilds it).
PACKAGE_DIR = PROFILES_DIR / "fsh-generated" / "resources"


def mapping_yaml(name: str) -> dict[str, Any]:
    """One YAML file under mappings/ (callers cache what they keep)."""
    with (MAPPINGS_DIR / name).open(encoding="utf-8") as f:
        data: dict[str, Any] = yaml.safe_load(f)
    return data


@cache
def eligibility_rules() -> EligibilityRules:
    d = mapping_yaml("eligibility.yaml")
    return EligibilityRules(
        full_term_days=int(d["full_term_days"]),
        late_pregnancy_days=int(d["late_pregnancy_days"]),
        max_child_age_days=int(d["max_child_age_days"]),
        max_age_proven_effective=int(d["max_age_proven_effective"]),
        modules_needing_training=frozenset(d["modules_needing_training"]),
        missing_items=dict(d.get("missing_items", {})),
        explanations=dict(d.get("explanations", {})),
    )


def own_system(codesystem_id: str) -> str:
    """Canonical URL of one of the project's CodeSystems."""
    return f"{CANONICAL_BASE}/CodeSystem/{codesystem_id}"


@cache
def referral_codes() -> dict[str, Any]:
    return mapping_yaml("referral-codes.yaml")


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


def conformance_resource(resource_type: str, resource_id: str) -> dict[str, Any] | None:
    for res in conformance_resources():
        if res["resourceType"] == resource_type and res.get("id") == resource_id:
            return res
    return None


def codesystem_codes(codesystem_id: str) -> dict[str, str]:
    """code -> display of one of the project's CodeSystems (empty when the package lacks it)."""
    cs = conformance_resource("CodeSystem", codesystem_id)
    if cs is None:
        return {}
    out: dict[str, str] = {}

    def walk(concepts: list[dict[str, Any]]) -> None:
        for c in concepts:
            out[c["code"]] = c.get("display", c["code"])
            walk(c.get("concept", []))

    walk(cs.get("concept", []))
    return out


@cache
def search_parameters() -> dict[str, dict[str, dict[str, str]]]:
    """Resource type -> search parameter name -> {type, expression, target?}."""
    return mapping_yaml("search-parameters.yaml")


@cache
def _task_states() -> dict[str, Any]:
    return mapping_yaml("task-transitions.yaml")


def task_kinds() -> dict[str, dict[str, Any]]:
    """Kind of Task (referral, consult) -> its state machine and update rules (task-transitions.yaml)."""
    kinds: dict[str, dict[str, Any]] = _task_states()["kinds"]
    return kinds


def task_kind(task: dict[str, Any]) -> str:
    """The kind of a Task: the kind whose code it carries, else the default (the referral loop)."""
    codings = task.get("code", {}).get("coding", []) if isinstance(task.get("code"), dict) else []
    for kind, rules in task_kinds().items():
        code = rules.get("code")
        if code and any(c.get("system") == code["system"] and c.get("code") == code["code"] for c in codings):
            return kind
    return str(_task_states()["default"])


@cache
def task_transitions(kind: str = "referral") -> dict[str, list[str]]:
    """Task.status -> the statuses it may move to, for one kind of Task (default: the referral loop)."""
    transitions: dict[str, list[str]] = task_kinds()[kind]["transitions"]
    return transitions


@cache
def consult_rules() -> dict[str, Any]:
    """VoorZorg Consult: questions, the facts a request carries, what each advice means (consult.yaml)."""
    return mapping_yaml("consult.yaml")


@cache
def operation_roles() -> dict[str, list[str]]:
    """Workflow operation -> the roles that may call it (access-policy.yaml `operations`)."""
    ops: dict[str, list[str]] = mapping_yaml("access-policy.yaml").get("operations", {})
    return ops


@cache
def stored_types() -> frozenset[str]:
    """Resource types the store holds: what a referral may carry, plus what the adapter writes."""
    return frozenset(referral_codes()["accepted_types"]) | set(search_parameters())


@cache
def visit_schedule() -> Schedule:
    """The visit rhythm per track (mappings/visit-schedule.yaml)."""
    return load_schedule(mapping_yaml("visit-schedule.yaml"))


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
