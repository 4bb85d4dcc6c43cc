"""Reading a request body as FHIR JSON, with the limits a hostile or broken sender runs into."""

from __future__ import annotations

import json
from typing import Any

from adapter.fhir.outcome import FhirError


def parse_json(body: bytes, *, max_bytes: int, max_depth: int) -> dict[str, Any]:
    if len(body) > max_bytes:
        raise FhirError.one(
            413, f"The body is {len(body)} bytes; this server accepts at most {max_bytes}", code="too-costly"
        )
    if not body.strip():
        raise FhirError.one(400, "The body is empty; a FHIR JSON resource is expected", code="structure")
    try:
        text = body.decode("utf-8")
        data = json.loads(text)
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
    if _depth(data) > max_depth:
        raise FhirError.one(400, f"The JSON is nested deeper than {max_depth} levels", code="too-costly")
    if not isinstance(data, dict):
        raise FhirError.one(400, "The body must be a JSON object holding a FHIR resource", code="structure")
    return data


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
