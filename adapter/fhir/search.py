"""Search parameters from a query string, checked against what the store indexes.

Parameters are named as the FHIR R4 spec names them (`mappings/search-parameters.yaml`). Unknown
parameters and modifiers are refused with 400 (the spec's `handling=strict`) unless the client asks
`Prefer: handling=lenient`, because a silently ignored filter returns more client data than asked for.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from adapter.data import SearchParameter, search_parameters
from adapter.fhir.dates import date_range
from adapter.fhir.limits import whole_number
from adapter.fhir.outcome import FhirError, Issue
from adapter.store.session import Alternative, Match

RESULT_PARAMS = {"_count", "_offset", "_sort", "_format", "_total", "_pretty"}
PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le")


@dataclass
class SearchQuery:
    matches: list[Match] = field(default_factory=list)
    count: int = 50
    offset: int = 0
    newest_first: bool = False
    # The parameters as understood, for the Bundle's self link.
    used: list[tuple[str, str]] = field(default_factory=list)


def parse_search(
    resource_type: str,
    query: list[tuple[str, str]],
    *,
    default_count: int,
    max_count: int,
    lenient: bool = False,
) -> SearchQuery:
    params = search_parameters().get(resource_type, {})
    out = SearchQuery(count=default_count)
    issues: list[Issue] = []
    for raw_name, raw_value in query:
        name, _, modifier = raw_name.partition(":")
        try:
            if name in RESULT_PARAMS:
                _result_param(out, name, raw_value, max_count)
            elif name == "_id":
                out.matches.append(Match("_id", tuple(Alternative(value=v) for v in raw_value.split(","))))
            elif name == "_lastUpdated":
                out.matches.append(Match("_lastUpdated", (_date_alternative(raw_value),)))
            elif name in params:
                out.matches.append(_match(name, modifier, raw_value, params[name]))
            else:
                if not lenient:
                    known = ", ".join(sorted([*params, "_id", "_lastUpdated", *RESULT_PARAMS]))
                    issues.append(
                        Issue(
                            f"Unknown search parameter {raw_name!r} for {resource_type}; known: {known}",
                            (raw_name,),
                            "not-supported",
                        )
                    )
                continue
            if name not in ("_format", "_pretty"):
                out.used.append((raw_name, raw_value))
        except ValueError as e:
            issues.append(Issue(f"Search parameter {raw_name}={raw_value!r}: {e}", (raw_name,), "value"))
    if issues:
        raise FhirError(400, issues)
    return out


def refuse_unknown(resource_type: str, given: set[str], known: set[str]) -> None:
    """400 naming each parameter a simple search endpoint does not understand."""
    unknown = sorted(given - known)
    if unknown:
        raise FhirError.one(
            400,
            f"Unknown search parameter(s) for {resource_type}: {', '.join(unknown)}",
            *unknown,
            code="not-supported",
        )


def _result_param(out: SearchQuery, name: str, value: str, max_count: int) -> None:
    if name == "_count":
        n = whole_number(value)
        out.count = min(n, max_count)
    elif name == "_offset":
        out.offset = whole_number(value)
    elif name == "_sort":
        if value not in ("_lastUpdated", "-_lastUpdated"):
            raise ValueError("only _lastUpdated and -_lastUpdated are supported")
        out.newest_first = value.startswith("-")


def _match(name: str, modifier: str, value: str, definition: SearchParameter) -> Match:
    ptype = definition["type"]
    values = value.split(",")
    if ptype == "token":
        if modifier:
            raise ValueError(f"modifier :{modifier} is not supported on token parameters")
        return Match(name, tuple(_token(v) for v in values))
    if ptype == "reference":
        if modifier == "identifier":
            return Match(f"{name}:identifier", tuple(_token(v) for v in values))
        target = definition.get("target")
        if modifier and modifier != target:
            raise ValueError(f"modifier :{modifier} is not supported here")
        return Match(name, tuple(Alternative(value=_reference(v, target or modifier)) for v in values))
    if ptype == "date":
        if modifier:
            raise ValueError(f"modifier :{modifier} is not supported on date parameters")
        return Match(name, tuple(_date_alternative(v) for v in values))
    if modifier not in ("", "exact"):
        raise ValueError(f"modifier :{modifier} is not supported on string parameters")
    return Match(name, tuple(Alternative(value=v.lower()) for v in values))


def _token(value: str) -> Alternative:
    if not value:
        raise ValueError("an empty token")
    if "|" in value:
        system, _, code = value.partition("|")
        return Alternative(value=code, system=system)  # "|code" -> system "" = no system
    return Alternative(value=value)


def _reference(value: str, target: str | None) -> str:
    parts = value.rstrip("/").split("/")
    if len(parts) >= 2 and "_history" not in parts:
        return f"{parts[-2]}/{parts[-1]}"
    if target and len(parts) == 1 and parts[0]:
        return f"{target}/{parts[0]}"
    raise ValueError("a reference is Type/id (or an id where the parameter has one target type)")


def _date_alternative(value: str) -> Alternative:
    prefix = value[:2] if value[:2] in PREFIXES else "eq"
    raw = value[2:] if value[:2] in PREFIXES else value
    try:
        low, high = date_range(raw)
    except ValueError:
        raise ValueError(
            "a FHIR date, dateTime or instant is expected (e.g. 2026-03-01 or gt2026-03-01T10:00:00Z)"
        ) from None
    return Alternative(compare=prefix, low=low, high=high)
