"""What every input is held to before anything is computed or stored (`mappings/input-limits.yaml`).

No database keeps a NUL character the way it was sent (PostgreSQL refuses it, SQLite stores it) and
no encoding holds a lone surrogate; the store keeps identifiers, codes and references in columns of
255 characters (PostgreSQL refuses longer ones, SQLite stores them). So input one backend would refuse
is refused here, on both, before anything is written, with the element named:

- `unreadable`: NUL characters and lone surrogates in any key or string (400);
- `nulls`: JSON null, which FHIR JSON does not have (400; workflows read a missing element, not a null);
- `refused`: what this server does not take (422): a modifierExtension it does not understand (FHIR
  requires refusing one), strings over the length limits, a Period that ends before it starts (per-1).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from adapter.data import input_limits
from adapter.fhir.dates import date_range
from adapter.fhir.outcome import FhirError, Issue


def text_problem(text: str) -> str | None:
    """What makes `text` unstorable: a NUL character or a lone surrogate; None when it is fine."""
    if "\x00" in text:
        return "a NUL character (U+0000)"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        return f"a lone surrogate (U+{ord(text[e.start]):04X})"
    return None


def printable(text: str) -> str:
    """`text` with NUL characters and lone surrogates written as escapes (for an expression)."""
    if text_problem(text) is None:
        return text
    return "".join(repr(c)[1:-1] if text_problem(c) else c for c in text)


def nodes(value: Any, root: str) -> Iterator[tuple[str, str, Any]]:
    """(FHIRPath, element name, value) of `value` and everything under it, in document order; a list
    item carries the name of its list."""
    stack: list[tuple[str, str, Any]] = [(root, "", value)]
    while stack:
        path, name, v = stack.pop()
        yield path, name, v
        if isinstance(v, dict):
            stack.extend((f"{path}.{k}" if path else str(k), str(k), c) for k, c in reversed(v.items()))
        elif isinstance(v, list):
            stack.extend((f"{path}[{i}]", name, c) for i, c in reversed(list(enumerate(v))))


def unreadable(value: Any, root: str) -> list[Issue]:
    """An issue for every key and string under `value` that holds a NUL character or a lone surrogate."""
    issues: list[Issue] = []
    for path, name, v in nodes(value, root):
        bad = text_problem(name) or (text_problem(v) if isinstance(v, str) else None)
        if bad:
            issues.append(
                Issue(f"The element holds {bad}, which is not accepted", (printable(path),), "structure")
            )
    return issues


def nulls(value: Any, root: str) -> list[Issue]:
    """An issue for every JSON null: FHIR JSON leaves an element out instead. The one exception is an
    array of primitives with its `_name` companion array (or the other way round), where null keeps the
    two aligned."""
    issues: list[Issue] = []
    stack: list[tuple[str, Any]] = [(root, value)]
    while stack:
        path, v = stack.pop()
        items = v.items() if isinstance(v, dict) else ()
        for key, child in items:
            where = f"{path}.{key}" if path else str(key)
            if child is None:
                issues.append(
                    Issue("null is no FHIR JSON value: leave the element out", (where,), "structure")
                )
            elif isinstance(child, list):
                companion = isinstance(v.get(key[1:] if key.startswith("_") else f"_{key}"), list)
                for i, item in enumerate(child):
                    if item is None and not companion:
                        issues.append(
                            Issue(
                                "null is no FHIR JSON value: leave the element out",
                                (f"{where}[{i}]",),
                                "structure",
                            )
                        )
                    elif item is not None:
                        stack.append((f"{where}[{i}]", item))
            else:
                stack.append((where, child))
    return issues


def refuse_unreadable(items: Iterable[tuple[str, str]]) -> None:
    """400 naming each parameter of a query string or form that holds a NUL or a lone surrogate."""
    issues = [
        Issue(
            f"The parameter {printable(name)!r} holds {bad}, which is not accepted",
            (printable(name),),
            "value",
        )
        for name, value in items
        if (bad := text_problem(name) or text_problem(value))
    ]
    if issues:
        raise FhirError(400, issues)


def whole_number(raw: str) -> int:
    """A `_count` / `_offset` of a query; ValueError unless a whole number both databases page with."""
    most = input_limits()["max_query_integer"]
    if not (raw.isascii() and raw.isdigit()) or len(raw) > len(str(most)) or int(raw) > most:
        raise ValueError(f"a whole number from 0 to {most} is expected")
    return int(raw)


def refused(resource: Any, root: str) -> list[Issue]:
    """What this server does not take from a resource that is otherwise valid FHIR (422 issues)."""
    limits = input_limits()
    understood = set(limits["understood_modifier_extensions"])
    max_length = limits["max_length"]
    issues: list[Issue] = []
    for path, name, v in nodes(resource, root):
        if name == "modifierExtension" and isinstance(v, dict) and v.get("url") not in understood:
            issues.append(
                Issue(
                    f"This server does not understand the modifier extension {v.get('url')!r}, so it "
                    "cannot take the resource (a modifier may change what the element means)",
                    (path,),
                    "not-supported",
                )
            )
        elif isinstance(v, str) and name in max_length and len(v) > max_length[name]:
            issues.append(
                Issue(f"{name} is {len(v)} characters; at most {max_length[name]}", (path,), "too-long")
            )
        elif isinstance(v, dict) and (name == "period" or name.endswith("Period")) and _ends_early(v):
            issues.append(Issue("per-1: the period's start lies after its end", (path,), "invariant"))
    return issues


def _ends_early(period: dict[str, Any]) -> bool:
    """Base invariant per-1, where it is certain: the start lies after the end whatever the precision."""
    start, end = period.get("start"), period.get("end")
    if not isinstance(start, str) or not isinstance(end, str):
        return False
    try:
        return date_range(start)[0] > date_range(end)[1]
    except ValueError:
        return False  # not a date: a structural problem, reported as such
