"""Search-index extraction: FHIRPath expressions from `mappings/search-parameters.yaml` over a resource.

Each value becomes a row (system, value, low, high): tokens keep system and code, references keep
`Type/id`, dates keep the instant range they cover so prefixes (`gt`, `le`, ...) compare ranges.

Every expression is compiled once per search parameter. A plain path (`Task.for`, `Goal.target.due`,
a choice type like `Observation.effective` at its end) becomes a walk over the resource's dicts; it gives
what FHIRPath gives (tests/store/test_indexing.py), and hands the resource to FHIRPath itself whenever it
meets what only FHIRPath's rules settle (a primitive's `_name` extension element, a null in an array).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

from fhirpathpy import compile as compile_fhirpath
from fhirpathpy.models import models

from adapter.data import search_parameters
from adapter.fhir.dates import date_range


@dataclass(frozen=True)
class IndexRow:
    param: str
    system: str | None = None
    value: str | None = None
    low: str | None = None
    high: str | None = None


@dataclass(frozen=True)
class _Compiled:
    name: str
    type: str
    evaluate: Callable[..., list[Any]]


@cache
def _compiled(resource_type: str) -> tuple[_Compiled, ...]:
    return tuple(
        _Compiled(name, p["type"], compile_path(p["expression"]))
        for name, p in search_parameters().get(resource_type, {}).items()
    )


def fhirpath(expression: str) -> Callable[..., list[Any]]:
    """The expression as fhirpathpy evaluates it (R4 model)."""
    evaluate: Callable[..., list[Any]] = compile_fhirpath(expression, model=models["r4"])
    return evaluate


_PLAIN = re.compile(r"[A-Z][A-Za-z]*(\.[a-z][A-Za-z]*)+")


class _Fallback(Exception):
    """The walk met what only FHIRPath's rules settle."""


def compile_path(expression: str) -> Callable[..., list[Any]]:
    """The expression as a function of a resource; a plain path walks the dicts, anything else is FHIRPath."""
    slow = fhirpath(expression)
    steps = _steps(expression) if _PLAIN.fullmatch(expression) else None
    if steps is None:
        return slow
    root, walk = expression.split(".", 1)[0], steps

    def evaluate(resource: dict[str, Any]) -> list[Any]:
        if resource.get("resourceType") != root:
            return slow(resource)
        try:
            return _walk([resource], walk)
        except _Fallback:
            return slow(resource)

    return evaluate


def _steps(expression: str) -> tuple[tuple[str, ...], ...] | None:
    """Per segment the keys FHIRPath looks for (a choice type's, in the model's order); None when a
    choice type is not the last segment (its type would steer the rest of the path)."""
    model = models["r4"]
    parts = expression.split(".")
    steps: list[tuple[str, ...]] = []
    path = parts[0]
    for i, key in enumerate(parts[1:], start=1):
        child = model["pathsDefinedElsewhere"].get(f"{path}.{key}", f"{path}.{key}")
        choices = model["choiceTypePaths"].get(child)
        if choices and i != len(parts) - 1:
            return None
        steps.append(tuple(f"{key}{t}" for t in choices) if choices else (key,))
        path = model["path2Type"].get(child, child)
    return tuple(steps)


def _walk(nodes: list[Any], steps: tuple[tuple[str, ...], ...]) -> list[Any]:
    for keys in steps:
        found: list[Any] = []
        for node in nodes:
            if not isinstance(node, dict):
                continue
            value = _child(node, keys)
            if isinstance(value, list):
                if None in value:
                    raise _Fallback
                found.extend(value)
            elif value is not None:
                found.append(value)
        nodes = found
    return nodes


def _child(node: dict[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        if "_" + key in node:
            raise _Fallback
        value = node.get(key)
        if value is not None:
            return value
    return None


def element_of(resource_type: str, param: str) -> str:
    """The element a search parameter indexes (its FHIRPath), e.g. `Task.status` for `status`."""
    name, _, modifier = param.partition(":")
    expression = search_parameters().get(resource_type, {}).get(name, {}).get("expression", resource_type)
    return f"{expression}.{modifier}" if modifier else expression


def index_rows(resource: dict[str, Any]) -> list[IndexRow]:
    rows: list[IndexRow] = []
    for p in _compiled(resource["resourceType"]):
        for value in p.evaluate(resource):
            rows.extend(_rows(p.name, p.type, value))
    return rows


def _rows(name: str, ptype: str, value: Any) -> Iterator[IndexRow]:
    if ptype == "token":
        yield from _tokens(name, value)
    elif ptype == "reference":
        ref = value.get("reference") if isinstance(value, dict) else None
        if isinstance(ref, str) and ref:
            yield IndexRow(name, value=ref)
        ident = value.get("identifier") if isinstance(value, dict) else None
        if isinstance(ident, dict) and ident.get("value"):
            yield IndexRow(name + ":identifier", system=ident.get("system"), value=str(ident["value"]))
    elif ptype == "date":
        if isinstance(value, dict):  # Period
            start, end = value.get("start"), value.get("end")
            low = date_range(start)[0] if start else "0001-01-01T00:00:00.000000Z"
            high = date_range(end)[1] if end else "9999-12-31T23:59:59.999999Z"
            yield IndexRow(name, low=low, high=high)
        elif isinstance(value, str):
            low, high = date_range(value)
            yield IndexRow(name, low=low, high=high)
    elif ptype == "string" and isinstance(value, str):
        yield IndexRow(name, value=value.lower()[:255])


def _tokens(name: str, value: Any) -> Iterator[IndexRow]:
    if isinstance(value, str | bool):
        yield IndexRow(name, value=str(value).lower() if isinstance(value, bool) else value)
    elif isinstance(value, dict):
        if "coding" in value:  # CodeableConcept
            for coding in value.get("coding", []):
                yield from _tokens(name, coding)
        elif "code" in value:  # Coding
            yield IndexRow(name, system=value.get("system"), value=str(value["code"]))
        elif "value" in value:  # Identifier
            yield IndexRow(name, system=value.get("system"), value=str(value["value"]))
