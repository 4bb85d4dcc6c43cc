"""FHIR references: the one walker over them, and what is built on it.

`walk_references(value, visit, path)` descends a resource looking for references; the helpers here,
the referral reader's reference check and the validator's dom-3 check are visitors of it (the
exchange's own walkers are to become visitors too).
"""

from __future__ import annotations

from collections.abc import Callable, Container
from typing import Any

#: visit(holder, reference, fhirpath): `holder` is the Reference-like dict (it has a string
#: "reference"), `fhirpath` says where it sits. The visitor may change the holder in place: point
#: "reference" elsewhere, delete it, add "type", "identifier" or "display".
Visit = Callable[[dict[str, Any], str, str], None]


def walk_references(value: Any, visit: Visit, path: str = "", *, skip: Container[str] = ()) -> None:
    """Call `visit(holder, reference, fhirpath)` for every dict under `value` with a string "reference".

    Holders come in document order: a holder before the references nested inside it (e.g. in its
    `extension`), then its following siblings. The walk goes on into the holder *after* the visit, so
    it sees what the visitor left. Elements named in `skip` are not entered (e.g. {"contained"}: only
    the resource's own references); a "reference" value itself is never entered.
    `fhirpath` is `path` followed by `.element` and `[index]` steps, e.g. with path "Bundle.entry[0]
    .resource": "Bundle.entry[0].resource.subject"; the holder at `value` itself gets `path`.
    """
    if isinstance(value, dict):
        ref = value.get("reference")
        if isinstance(ref, str):
            visit(value, ref, path)
        for key, child in list(value.items()):
            if key != "reference" and key not in skip:
                walk_references(child, visit, f"{path}.{key}" if path else key, skip=skip)
    elif isinstance(value, list):
        for i, child in enumerate(value):
            walk_references(child, visit, f"{path}[{i}]", skip=skip)


def retarget(value: Any, refs: dict[str, str]) -> Any:
    """Point every `reference` found in `refs` at its new target, in place (and return `value`)."""

    def point(holder: dict[str, Any], ref: str, _path: str) -> None:
        if ref in refs:
            holder["reference"] = refs[ref]

    walk_references(value, point)
    return value


def references_in(value: Any) -> list[str]:
    """Every literal `reference` in a resource (contained ones as '#id'), in document order."""
    found: list[str] = []
    walk_references(value, lambda _holder, ref, _path: found.append(ref))
    return found
