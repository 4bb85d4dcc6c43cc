"""The compiled search-index extraction gives exactly what FHIRPath gives, for every example resource."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest

from adapter.config import PROJECT_ROOT
from adapter.data import search_parameters
from adapter.store.indexing import IndexRow, _rows, compile_path, fhirpath, index_rows


def _resources(data: Any) -> Iterator[dict[str, Any]]:
    """Every resource in a JSON document: itself, Bundle entries, contained, Parameters resources."""
    if isinstance(data, dict):
        if isinstance(data.get("resourceType"), str):
            yield data
        for value in data.values():
            yield from _resources(value)
    elif isinstance(data, list):
        for item in data:
            yield from _resources(item)


def _examples() -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for folder in ("profiles/fsh-generated", "tests", "examples"):
        for path in sorted((PROJECT_ROOT / folder).rglob("*.json")):
            try:
                found.extend(_resources(json.loads(path.read_text(encoding="utf-8"))))
            except (ValueError, UnicodeDecodeError):
                continue
    return [r for r in found if r["resourceType"] in search_parameters()]


def _by_fhirpath(resource: dict[str, Any]) -> list[IndexRow]:
    rows: list[IndexRow] = []
    for name, p in search_parameters().get(resource["resourceType"], {}).items():
        for value in fhirpath(p["expression"])(resource):
            rows.extend(_rows(name, p["type"], value))
    return rows


EXAMPLES = _examples()


def test_there_are_examples_of_most_indexed_types() -> None:
    assert len(EXAMPLES) > 50
    assert len({r["resourceType"] for r in EXAMPLES}) >= 10


@pytest.mark.parametrize("resource", EXAMPLES, ids=lambda r: f"{r['resourceType']}/{r.get('id', '-')}")
def test_same_rows_as_fhirpath(resource: dict[str, Any]) -> None:
    assert index_rows(resource) == _by_fhirpath(resource)


def _odd(resource: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Variants only FHIRPath's rules settle: `_name` extension elements, nulls, choice types, empties."""
    for key, value in resource.items():
        if key in ("resourceType", "id"):
            continue
        only_ext = copy.deepcopy(resource)
        only_ext.pop(key)
        only_ext[f"_{key}"] = {"extension": [{"url": "http://example.org/x", "valueString": "y"}]}
        yield only_ext
        both = copy.deepcopy(resource)
        both[f"_{key}"] = {"id": "x"} if not isinstance(value, list) else [None] * len(value)
        yield both
        if isinstance(value, list) and value:
            nulls = copy.deepcopy(resource)
            nulls[key] = [*value, None]
            nulls[f"_{key}"] = [None] * len(value) + [{"id": "x"}]
            yield nulls
        empty = copy.deepcopy(resource)
        empty[key] = [] if isinstance(value, list) else {} if isinstance(value, dict) else value
        yield empty


ODD = [v for r in EXAMPLES[::7] for v in _odd(r)]


@pytest.mark.parametrize("resource", ODD)
def test_same_rows_as_fhirpath_for_odd_shapes(resource: dict[str, Any]) -> None:
    assert index_rows(resource) == _by_fhirpath(resource)


@pytest.mark.parametrize(
    ("expression", "resource", "expected"),
    [
        ("Observation.effective", {"resourceType": "Observation", "effectiveDateTime": "2024"}, ["2024"]),
        (
            "Observation.effective",
            {"resourceType": "Observation", "effectivePeriod": {"start": "2024"}},
            [{"start": "2024"}],
        ),
        (
            "Goal.target.due",
            {"resourceType": "Goal", "target": [{"dueDate": "2024"}, {"dueDuration": {}}]},
            ["2024", {}],
        ),
        ("Goal.start", {"resourceType": "Goal", "_startDate": {"id": "x"}}, [{"id": "x"}]),
        (
            "Patient.link.other",
            {"resourceType": "Patient", "link": [{"other": {"reference": "Patient/1"}}]},
            [{"reference": "Patient/1"}],
        ),
        ("Task.status", {"resourceType": "Patient", "status": "x"}, []),
    ],
)
def test_paths(expression: str, resource: dict[str, Any], expected: list[Any]) -> None:
    assert compile_path(expression)(resource) == fhirpath(expression)(resource) == expected


def test_every_search_parameter_compiles() -> None:
    for params in search_parameters().values():
        for p in params.values():
            compile_path(p["expression"])({"resourceType": "Basic"})
