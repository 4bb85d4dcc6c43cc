"""Value set membership for the profile validator, from our own FHIR package only.

`valueset_members(url)` expands a ValueSet of `profiles/` (via `adapter.data.conformance_resources()`):
`compose.include` with a `system` and a `concept` list (external systems such as SNOMED, LOINC, UCUM:
only the listed codes), with a `system` alone (every code of our own CodeSystem of that URL,
nested concepts included), or with `valueSet` (another of our ValueSets); `compose.exclude` likewise.
Filters are not supported (none of our ValueSets uses one): such a ValueSet is treated as unknown.

The core R4 ValueSets that the snapshots of our profiles bind with strength *required* are not in our
package. Their codes are listed below (`CORE_REQUIRED_VALUESETS`), copied once from
hl7.fhir.r4.core 4.0.1 (ValueSet compose + CodeSystem concepts) so that nothing is read at run time
from Node or ~/.fhir. Regenerate the list when a profile binds another core ValueSet as required;
an unknown ValueSet is skipped by the validator (no issue), never guessed.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from adapter.data import conformance_resources

#: (code system URL, space-separated codes) per core R4 ValueSet bound `required` in our snapshots.
CORE_REQUIRED_VALUESETS: dict[str, tuple[tuple[str, str], ...]] = {
    "http://hl7.org/fhir/ValueSet/administrative-gender": (
        ("http://hl7.org/fhir/administrative-gender", "male female other unknown"),
    ),
    "http://hl7.org/fhir/ValueSet/care-plan-activity-kind": (
        (
            "http://hl7.org/fhir/resource-types",
            (
                "Appointment CommunicationRequest DeviceRequest MedicationRequest NutritionOrder "
                "Task ServiceRequest VisionPrescription"
            ),
        ),
    ),
    "http://hl7.org/fhir/ValueSet/care-plan-activity-status": (
        (
            "http://hl7.org/fhir/care-plan-activity-status",
            (
                "not-started scheduled in-progress on-hold completed cancelled stopped unknown "
                "entered-in-error"
            ),
        ),
    ),
    "http://hl7.org/fhir/ValueSet/care-plan-intent": (
        ("http://hl7.org/fhir/request-intent", "proposal plan order option"),
    ),
    "http://hl7.org/fhir/ValueSet/consent-data-meaning": (
        ("http://hl7.org/fhir/consent-data-meaning", "instance related dependents authoredby"),
    ),
    "http://hl7.org/fhir/ValueSet/consent-provision-type": (
        ("http://hl7.org/fhir/consent-provision-type", "deny permit"),
    ),
    "http://hl7.org/fhir/ValueSet/encounter-location-status": (
        ("http://hl7.org/fhir/encounter-location-status", "planned active reserved completed"),
    ),
    "http://hl7.org/fhir/ValueSet/encounter-status": (
        (
            "http://hl7.org/fhir/encounter-status",
            ("planned arrived triaged in-progress onleave finished cancelled entered-in-error unknown"),
        ),
    ),
    "http://hl7.org/fhir/ValueSet/goal-status": (
        (
            "http://hl7.org/fhir/goal-status",
            ("proposed planned accepted active on-hold completed cancelled entered-in-error rejected"),
        ),
    ),
    "http://hl7.org/fhir/ValueSet/guidance-response-status": (
        (
            "http://hl7.org/fhir/guidance-response-status",
            ("success data-requested data-required in-progress failure entered-in-error"),
        ),
    ),
    "http://hl7.org/fhir/ValueSet/identifier-use": (
        ("http://hl7.org/fhir/identifier-use", "usual official temp secondary old"),
    ),
    "http://hl7.org/fhir/ValueSet/link-type": (
        ("http://hl7.org/fhir/link-type", "replaced-by replaces refer seealso"),
    ),
    "http://hl7.org/fhir/ValueSet/observation-status": (
        (
            "http://hl7.org/fhir/observation-status",
            ("registered preliminary final amended corrected cancelled entered-in-error unknown"),
        ),
    ),
    "http://hl7.org/fhir/ValueSet/quantity-comparator": (
        ("http://hl7.org/fhir/quantity-comparator", "< <= >= >"),
    ),
    "http://hl7.org/fhir/ValueSet/request-intent": (
        (
            "http://hl7.org/fhir/request-intent",
            ("proposal plan directive order original-order reflex-order filler-order instance-order option"),
        ),
    ),
    "http://hl7.org/fhir/ValueSet/request-priority": (
        ("http://hl7.org/fhir/request-priority", "routine urgent asap stat"),
    ),
    "http://hl7.org/fhir/ValueSet/request-status": (
        (
            "http://hl7.org/fhir/request-status",
            ("draft active on-hold revoked completed entered-in-error unknown"),
        ),
    ),
    "http://hl7.org/fhir/ValueSet/task-intent": (
        ("http://hl7.org/fhir/task-intent", "unknown"),
        (
            "http://hl7.org/fhir/request-intent",
            ("proposal plan order original-order reflex-order filler-order instance-order option"),
        ),
    ),
}


@cache
def _by_url() -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (r["resourceType"], r["url"]): r
        for r in conformance_resources()
        if r.get("resourceType") in ("ValueSet", "CodeSystem") and "url" in r
    }


def _codesystem_codes(system: str) -> frozenset[str] | None:
    cs = _by_url().get(("CodeSystem", system))
    if cs is None:
        return None
    out: set[str] = set()

    def walk(concepts: list[dict[str, Any]]) -> None:
        for c in concepts:
            out.add(c["code"])
            walk(c.get("concept", []))

    walk(cs.get("concept", []))
    return frozenset(out)


def _expand_part(parts: list[dict[str, Any]], seen: frozenset[str]) -> set[tuple[str, str]] | None:
    out: set[tuple[str, str]] = set()
    for inc in parts:
        if inc.get("filter"):
            return None
        members: set[tuple[str, str]] | None = None
        system = inc.get("system")
        if system:
            if "concept" in inc:
                members = {(system, c["code"]) for c in inc["concept"]}
            else:
                codes = _codesystem_codes(system)
                if codes is None:
                    return None  # a whole external code system: not checkable here
                members = {(system, c) for c in codes}
        for vs_url in inc.get("valueSet", []):
            sub = _expand(vs_url, seen)
            if sub is None:
                return None
            members = set(sub) if members is None else members & sub
        out |= members or set()
    return out


def _expand(url: str, seen: frozenset[str] = frozenset()) -> frozenset[tuple[str, str]] | None:
    url = url.split("|", 1)[0]
    if url in seen:
        return None
    if url in CORE_REQUIRED_VALUESETS:
        return frozenset((s, c) for s, codes in CORE_REQUIRED_VALUESETS[url] for c in codes.split())
    vs = _by_url().get(("ValueSet", url))
    if vs is None:
        return None
    compose = vs.get("compose", {})
    inc = _expand_part(compose.get("include", []), seen | {url})
    if inc is None:
        return None
    exc = _expand_part(compose.get("exclude", []), seen | {url}) or set()
    return frozenset(inc - exc)


@cache
def valueset_members(url: str) -> frozenset[tuple[str, str]] | None:
    """(system, code) pairs of a ValueSet, or None when we cannot expand it (unknown, filters)."""
    return _expand(url)


@cache
def valueset_codes(url: str) -> frozenset[str] | None:
    """The bare codes of a ValueSet (for `code` elements, which carry no system)."""
    members = valueset_members(url)
    return None if members is None else frozenset(c for _, c in members)
