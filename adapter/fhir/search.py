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
from adapter.fhir.subsetting import SUMMARY_MODES
from adapter.store.session import Alternative, Match

#: `_totalMethod` is fhirpy's (and Aidbox's) name for `_total`: fhirpy's `count()` sends it.
RESULT_PARAMS = {
    "_count",
    "_offset",
    "_sort",
    "_format",
    "_total",
    "_totalMethod",
    "_pretty",
    "_summary",
    "_elements",
    "_include",
    "_revinclude",
}
PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le")
TOTAL_MODES = ("none", "estimate", "accurate", "count")
#: Token parameters that name another resource by its identifier, so `_revinclude` can follow them:
#: (source type, parameter) -> the type whose `identifier` they hold. The decision names its referral by
#: the referral's number (GuidanceResponse.requestIdentifier), not by a reference.
IDENTIFIER_LINKS = {("GuidanceResponse", "request"): "ServiceRequest"}


@dataclass(frozen=True)
class Include:
    """`_include=Source:param[:Target]` (or `_revinclude`), optionally `:iterate`."""

    source: str
    param: str
    target: str | None = None
    reverse: bool = False
    iterate: bool = False

    def __str__(self) -> str:
        return ":".join([self.source, self.param, *([self.target] if self.target else [])])


@dataclass
class SearchQuery:
    matches: list[Match] = field(default_factory=list)
    count: int = 50
    offset: int = 0
    newest_first: bool = False
    # The parameters as understood, for the Bundle's self link.
    used: list[tuple[str, str]] = field(default_factory=list)
    includes: list[Include] = field(default_factory=list)
    summary: str | None = None  # _summary: true | text | data | count | false
    elements: tuple[str, ...] | None = None  # _elements
    with_total: bool = True  # _total=none leaves Bundle.total out


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
            if name in ("_include", "_revinclude"):
                out.includes.append(_include(resource_type, name == "_revinclude", modifier, raw_value))
            elif name in RESULT_PARAMS:
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
    if out.summary == "count":
        out.count = 0
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
    elif name == "_summary":
        if value not in SUMMARY_MODES:
            raise ValueError(f"one of {', '.join(SUMMARY_MODES)}")
        out.summary = value
    elif name == "_elements":
        out.elements = tuple(e.strip() for e in value.split(",") if e.strip() and e.strip() != "resourceType")
    elif name in ("_total", "_totalMethod"):
        if value not in TOTAL_MODES:
            raise ValueError(f"one of {', '.join(TOTAL_MODES)}")
        out.with_total = value != "none"


def _include(resource_type: str, reverse: bool, modifier: str, value: str) -> Include:
    """`Source:param[:Target]`, checked against what the store indexes; `:iterate` (`:recursive`, its
    name before R4) also follows what was included."""
    iterate = modifier in ("iterate", "recursive")
    if modifier and not iterate:
        raise ValueError(f"modifier :{modifier} is not supported; :iterate is")
    parts = value.split(":")
    if value == "*" or len(parts) not in (2, 3) or "*" in parts:
        raise ValueError("Source:parameter or Source:parameter:Target is expected (no wildcards)")
    source, param = parts[0], parts[1]
    target = parts[2] if len(parts) == 3 else None
    definition = search_parameters().get(source, {}).get(param)
    linked = IDENTIFIER_LINKS.get((source, param))
    if linked is None and (definition is None or definition["type"] != "reference"):
        raise ValueError(f"{source}:{param} is no reference search parameter of this server")
    if linked is not None and not reverse:
        raise ValueError(f"{source}:{param} names a {linked} by identifier: only _revinclude follows it")
    if linked is not None and target not in (None, linked):
        raise ValueError(f"{source}:{param} can only name a {linked}")
    if not iterate and not reverse and source != resource_type:
        raise ValueError(f"_include starts from {resource_type} here (or use _include:iterate)")
    default = definition.get("target") if definition else linked
    return Include(source, param, target or default, reverse, iterate)


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
