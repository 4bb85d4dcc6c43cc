"""Reference helpers."""

from __future__ import annotations

from typing import Any


def retarget(value: Any, refs: dict[str, str]) -> Any:
    """Point every `reference` found in `refs` at its new target, in place (and return `value`)."""
    if isinstance(value, dict):
        for k, v in value.items():
            if k == "reference" and isinstance(v, str) and v in refs:
                value[k] = refs[v]
            else:
                retarget(v, refs)
    elif isinstance(value, list):
        for v in value:
            retarget(v, refs)
    return value


def references_in(value: Any) -> list[str]:
    """Every literal `reference` in a resource (contained ones as '#id'), in document order."""
    if isinstance(value, dict):
        found = [value["reference"]] if isinstance(value.get("reference"), str) else []
        return found + [r for k, v in value.items() if k != "reference" for r in references_in(v)]
    if isinstance(value, list):
        return [r for v in value for r in references_in(v)]
    return []
