"""`_summary` and `_elements`: a resource cut down to what the client asked for (FHIR R4 search §3.1.1.5).

A resource so cut carries the `SUBSETTED` tag in `meta.tag`, so no one takes it for the whole and writes
it back. The summary elements and the mandatory ones come from the R4 definitions (`models.element_names`).

    _summary=true    the elements the spec marks as summary (Σ), and the mandatory ones
    _summary=text    text, id, meta and the mandatory elements
    _summary=data    everything but the narrative (text)
    _summary=false   everything (as without the parameter)
    _summary=count   no resources, only Bundle.total (the search decides that, not this module)
    _elements=a,b    id, meta and the elements named (a choice element by its name: `value`, `effective`)
"""

from __future__ import annotations

from typing import Any

from adapter.fhir.models import element_names

SUMMARY_MODES = ("true", "text", "data", "count", "false")
SUBSETTED = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
    "code": "SUBSETTED",
    "display": "subsetted",
}
_ALWAYS = ("resourceType", "id", "meta")


def subset(resource: dict[str, Any], summary: str | None, elements: tuple[str, ...] | None) -> dict[str, Any]:
    """The resource as `_summary` / `_elements` ask for it (the same object when nothing is cut)."""
    keep = _kept(resource, summary, elements)
    if keep is None:
        return resource
    out = {k: v for k, v in resource.items() if _base(k) in keep}
    meta = dict(out.get("meta") or {})
    meta["tag"] = [*(meta.get("tag") or []), SUBSETTED]
    out["meta"] = meta
    return out


def _kept(resource: dict[str, Any], summary: str | None, elements: tuple[str, ...] | None) -> set[str] | None:
    """The top-level names to keep, or None to keep everything."""
    names = element_names(str(resource.get("resourceType")))
    if elements is not None:
        return {*_ALWAYS, *(k for k in resource if _named(k, elements, names))}
    if summary == "true":
        return {*_ALWAYS, *(k for k, (in_summary, required) in names.items() if in_summary or required)}
    if summary == "text":
        return {*_ALWAYS, "text", *(k for k, (_, required) in names.items() if required)}
    if summary == "data":
        return {k for k in resource if k != "text"} | set(_ALWAYS)
    return None


def _named(key: str, wanted: tuple[str, ...], names: dict[str, tuple[bool, bool]]) -> bool:
    """Whether `_elements` names this key: by itself, or as the choice element it is one type of."""
    base = _base(key)
    return base in wanted or any(
        base.startswith(w) and base[len(w) : len(w) + 1].isupper() and base in names for w in wanted
    )


def _base(key: str) -> str:
    """`_status` (a primitive's id and extensions) goes with `status`."""
    return key[1:] if key.startswith("_") else key
