"""The FHIR R4 models: the one module that imports `fhir.resources`.

fhir.resources 8 models R5 by default and has no R4 package; its R4B package is wire-compatible with
R4 4.0.1 for every resource this adapter uses, so R4B it is — chosen here and nowhere else.
Parsing answers errors as `Issue`s whose expression is the FHIRPath of the element.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

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
    """Raise 400 with every structural problem (unknown elements, wrong types, bad formats) at once."""
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
    try:
        _model(rtype).model_validate(resource)
    except ValidationError as e:
        base = root or str(rtype)
        issues = [
            Issue(f"{err['msg']}", (fhirpath(base, tuple(err["loc"])),), code="structure")
            for err in e.errors(include_url=False)
        ]
        raise FhirError(400, issues) from None
