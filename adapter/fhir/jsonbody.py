"""Reading a request body as FHIR JSON, with the limits a hostile or broken sender runs into.

Strict where JSON and FHIR are: a key twice in one object is refused (which one counts is not
defined: an invalid BSN followed by a valid one would otherwise pass), and so are NaN and Infinity
(not JSON), numbers beyond what FHIR holds, NUL characters and lone surrogates — each 400 naming the
element (`mappings/input-limits.yaml`).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

from adapter.data import input_limits
from adapter.fhir.limits import nodes, printable, text_problem
from adapter.fhir.outcome import FhirError, Issue


def parse_json(body: bytes, *, max_bytes: int, max_depth: int) -> dict[str, Any]:
    if len(body) > max_bytes:
        raise FhirError.one(
            413, f"The body is {len(body)} bytes; this server accepts at most {max_bytes}", code="too-costly"
        )
    if not body.strip():
        raise FhirError.one(400, "The body is empty; a FHIR JSON resource is expected", code="structure")
    repeated: _Repeated = {}
    try:
        text = body.decode("utf-8")
        data = json.loads(text, object_pairs_hook=_objects(repeated), parse_constant=_no_constant)
    except UnicodeDecodeError:
        raise FhirError.one(400, "The body is not UTF-8 encoded", code="structure") from None
    except RecursionError:
        raise FhirError.one(
            400, f"The JSON is nested deeper than {max_depth} levels", code="too-costly"
        ) from None
    except json.JSONDecodeError as e:
        raise FhirError.one(
            400, f"The body is not valid JSON: {e.msg} at line {e.lineno} column {e.colno}", code="structure"
        ) from None
    except ValueError:  # a number of thousands of digits
        raise FhirError.one(
            400, "The body is not valid JSON: it holds a number too long to read", code="structure"
        ) from None
    if _depth(data) > max_depth:
        raise FhirError.one(400, f"The JSON is nested deeper than {max_depth} levels", code="too-costly")
    if not isinstance(data, dict):
        raise FhirError.one(400, "The body must be a JSON object holding a FHIR resource", code="structure")
    issues = list(_unacceptable(data, repeated))
    if issues:
        raise FhirError(400, issues)
    return data


#: id of a JSON object -> (the object, kept alive so its id stays its own; the keys it had twice)
_Repeated = dict[int, tuple[dict[str, Any], list[str]]]


def _objects(repeated: _Repeated) -> Callable[[list[tuple[str, Any]]], dict[str, Any]]:
    """The JSON object hook: a dict, and the keys it had more than once noted under its id."""

    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(pairs)
        if len(obj) < len(pairs):
            counts = Counter(k for k, _ in pairs)
            repeated[id(obj)] = (obj, sorted(k for k, n in counts.items() if n > 1))
        return obj

    return hook


def _no_constant(name: str) -> float:
    """NaN, Infinity, -Infinity: read, so the walk can name where they are, and then refused."""
    return float(name)


def _unacceptable(data: dict[str, Any], repeated: _Repeated) -> Iterator[Issue]:
    """Duplicate keys, NUL characters, lone surrogates and numbers FHIR cannot hold, each named."""
    rtype = data.get("resourceType")
    root = rtype if isinstance(rtype, str) and rtype.isascii() and rtype.isalpha() else ""
    digits = input_limits()["max_integer_digits"]
    for path, name, value in nodes(data, root):
        where = (printable(path),)
        bad = text_problem(name) or (text_problem(value) if isinstance(value, str) else None)
        if bad:
            yield Issue(f"The element holds {bad}, which is not accepted", where, "structure")
        elif isinstance(value, dict) and id(value) in repeated:
            for key in repeated[id(value)][1]:
                key_path = f"{path}.{key}" if path else key
                yield Issue(
                    f"The key {printable(key)!r} appears more than once in this object; JSON keys are unique",
                    (printable(key_path),),
                    "structure",
                )
        elif isinstance(value, float) and not math.isfinite(value):
            yield Issue("The number is not finite: NaN, Infinity or beyond a double (1e400)", where, "value")
        elif isinstance(value, int) and not isinstance(value, bool) and len(str(abs(value))) > digits:
            yield Issue(f"The number has more than {digits} digits", where, "value")


def _depth(value: Any) -> int:
    """Nesting depth, iteratively, so a deeply nested body cannot exhaust the stack."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        v, d = stack.pop()
        deepest = max(deepest, d)
        if isinstance(v, dict):
            stack.extend((c, d + 1) for c in v.values())
        elif isinstance(v, list):
            stack.extend((c, d + 1) for c in v)
    return deepest
