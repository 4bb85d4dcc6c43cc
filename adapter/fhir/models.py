"""The FHIR R4 models: the one module that imports `fhir.resources`.

fhir.resources 8 models R5 by default and has no R4 package; its R4B package is wire-compatible with
R4 4.0.1 for every resource this adapter uses, so R4B it is — chosen here and nowhere else.
Parsing answers errors as `Issue`s whose expression is the FHIRPath of the element.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cache
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from adapter.fhir.limits import nodes, nulls, refused, unreadable
from adapter.fhir.outcome import FhirError, Issue

FHIR_VERSION = "4.0.1"
FHIR_JSON = "application/fhir+json"


@cache
def _model(resource_type: str) -> Any:
    return get_fhir_model_class(resource_type)


def is_resource_type(name: object) -> bool:
    if not isinstance(name, str) or not name[:1].isupper():
        return False
    try:
        _model(name)
    except (KeyError, ValueError, AttributeError, ImportError):
        return False
    return True


def fhirpath(root: str, loc: tuple[int | str, ...]) -> str:
    """('entry', 0, 'resource', 'birthDate') under 'Bundle' -> 'Bundle.entry[0].resource.birthDate'."""
    out = root
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.startswith("function-after") or part in ("__root__",):
            continue
        else:
            out += f".{part}"
    return out


def check_structure(resource: Any, root: str | None = None) -> None:
    """Raise 400 with every structural problem (unknown elements, wrong types, bad formats, NUL
    characters and lone surrogates) at once; then 422 with everything this server does not take from
    valid FHIR (`adapter.fhir.limits.refused`: an unknown modifierExtension, over-long identifiers, ...)."""
    if not isinstance(resource, dict):
        raise FhirError.one(400, "The body must be a JSON object holding a FHIR resource", code="structure")
    rtype = resource.get("resourceType")
    if not is_resource_type(rtype):
        raise FhirError.one(
            400,
            f"resourceType {rtype!r} is not a FHIR R4 resource type" if rtype else "resourceType is missing",
            "resourceType",
            code="structure",
        )
    base = root or str(rtype)
    unstorable = unreadable(resource, base) + nulls(resource, base) + _unknown_resource_types(resource, base)
    if unstorable:
        raise FhirError(400, unstorable)
    _check_model(resource, str(rtype), base)
    not_taken = refused(resource, base)
    if not_taken:
        raise FhirError(422, not_taken)


#: Where a resource sits inside another: Bundle.entry.resource, Parameters.parameter.resource, contained.
_NESTED = re.compile(r"\.(entry|parameter)\[\d+\]\.resource$|\.contained\[\d+\]$")


def _unknown_resource_types(resource: dict[str, Any], base: str) -> list[Issue]:
    """Every nested resource (Bundle entries, contained, Parameters) names a known type: the models
    fail on one that does not, or take one without resourceType as a bare Resource."""
    issues = []
    for path, name, value in nodes(resource, base):
        if name == "resourceType" and not is_resource_type(value):
            issues.append(Issue(f"{value!r} is not a FHIR R4 resource type", (path,), code="structure"))
        elif isinstance(value, dict) and "resourceType" not in value and _NESTED.search(path):
            issues.append(
                Issue("A resource needs its resourceType", (f"{path}.resourceType",), code="structure")
            )
    return issues


def _check_model(resource: dict[str, Any], rtype: str, base: str) -> None:
    """400 with every problem the R4 model finds, and every JSON type the sender got wrong."""
    try:
        model = _model(rtype).model_validate(resource)
    except (KeyError, TypeError, AttributeError) as e:  # the model library failing on odd input
        raise FhirError.one(
            400, f"{rtype} cannot be read as FHIR R4 ({type(e).__name__})", base, code="structure"
        ) from None
    except ValidationError as e:
        issues = [
            Issue(f"{err['msg']}", (fhirpath(base, tuple(err["loc"])),), code="structure")
            for err in e.errors(include_url=False)
        ]
        raise FhirError(400, issues) from None
    # The models parse leniently ("yes" -> true, "2" -> 2); FHIR JSON does not: compare the JSON types.
    parsed = json.loads(model.model_dump_json(by_alias=True, exclude_none=True))
    wrong = list(_type_mismatches(resource, parsed, base))
    if wrong:
        raise FhirError(
            400,
            [
                Issue(f"FHIR JSON needs a {want} here, not a {_json_type(got)}", (path,), code="structure")
                for path, got, want in wrong
            ],
        )


def parameters(body: dict[str, Any]) -> list[dict[str, Any]]:
    """`Parameters.parameter` of an operation's body: JSON objects with a name each, or 400 naming
    those that are not (operations read their parameters by name)."""
    found = body.get("parameter", [])
    if not isinstance(found, list):
        raise FhirError.one(
            400, "Parameters.parameter is a list of parameters", "Parameters.parameter", code="structure"
        )
    issues = [
        Issue("A parameter is a JSON object with a name", (f"Parameters.parameter[{i}]",), code="structure")
        for i, p in enumerate(found)
        if not isinstance(p, dict) or not isinstance(p.get("name"), str)
    ]
    if issues:
        raise FhirError(400, issues)
    return found


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "string" if isinstance(value, str) else type(value).__name__


def _type_mismatches(sent: Any, parsed: Any, path: str) -> Iterator[tuple[str, Any, str]]:
    """Primitive values whose JSON type the sender got wrong (a string for a boolean or a number, a
    number for a string or a date)."""
    if isinstance(sent, dict) and isinstance(parsed, dict):
        for key, value in sent.items():
            if key in parsed:
                yield from _type_mismatches(value, parsed[key], f"{path}.{key}")
    elif isinstance(sent, list) and isinstance(parsed, list):
        for i, (a, b) in enumerate(zip(sent, parsed, strict=False)):
            yield from _type_mismatches(a, b, f"{path}[{i}]")
    elif isinstance(parsed, bool | int | float | str) and _json_type(sent) != _json_type(parsed):
        yield path, sent, _json_type(parsed)


@cache
def element_names(resource_type: str) -> dict[str, tuple[bool, bool]]:
    """The JSON names of a type's top-level elements: (in the summary, mandatory) for each."""
    out: dict[str, tuple[bool, bool]] = {}
    for name, field in _model(resource_type).model_fields.items():
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        if not extra.get("element_property"):
            continue
        out[field.alias or name] = (
            bool(extra.get("summary_element_property")),
            bool(extra.get("element_required")),
        )
    return out


def reference_targets(resource_type: str, element: str) -> tuple[str, ...]:
    """The resource types a top-level Reference element may point at (R4); () for any (`Resource`)."""
    try:
        fields = _model(resource_type).model_fields
    except (KeyError, ValueError, AttributeError, ImportError):
        return ()
    for name, field in fields.items():
        if (field.alias or name) == element:
            extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
            targets = tuple(extra.get("enum_reference_types") or ())
            return () if "Resource" in targets else targets
    return ()
