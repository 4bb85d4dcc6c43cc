"""Search-index extraction: FHIRPath expressions from `mappings/search-parameters.yaml` over a resource.

Each value becomes a row (system, value, low, high): tokens keep system and code, references keep
`Type/id`, dates keep the instant range they cover so prefixes (`gt`, `le`, ...) compare ranges.
"""

from __future__ import annotations

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
        _Compiled(name, p["type"], compile_fhirpath(p["expression"], model=models["r4"]))
        for name, p in search_parameters().get(resource_type, {}).items()
    )


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
