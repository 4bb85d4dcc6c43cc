"""Value set membership for the profile validator: our own FHIR package and the R4 core ValueSets.

`valueset_members(url)` expands a ValueSet of `profiles/` (via `adapter.data.conformance_resources()`):
`compose.include` with a `system` and a `concept` list (external systems such as SNOMED, LOINC, UCUM:
only the listed codes), with a `system` alone (every code of our own CodeSystem of that URL,
nested concepts included), or with `valueSet` (another of our ValueSets); `compose.exclude` likewise.
Filters are not supported (none of our ValueSets uses one): such a ValueSet is treated as unknown.

The core R4 ValueSets come expanded from `adapter.data.core_definitions()` (every core ValueSet that a
core element binds as *required*, expanded from the core CodeSystems by
`profiles/scripts/core_definitions.py`), so that nothing is read at run time from Node or ~/.fhir.
A ValueSet that is neither ours nor expanded there (a core one bound only extensibly, or one over an
external code system such as UCUM or MIME types) is unknown: the validator skips it, never guesses.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from adapter.data import conformance_resources, core_definitions


@cache
def _core_valuesets() -> dict[str, frozenset[tuple[str, str]]]:
    """url -> (system, code) pairs of the expanded core ValueSets."""
    return {
        url: frozenset((system, code) for system, codes in groups for code in codes.split())
        for url, groups in core_definitions()["valueSets"].items()
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
    core = _core_valuesets().get(url)
    if core is not None:
        return core
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
