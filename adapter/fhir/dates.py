"""FHIR date, dateTime and instant values as the instant range (UTC) they cover.

A date of day precision covers the whole day; `2026-03` covers the whole month. Ranges are fixed-width
ISO strings so the store compares them as text, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, datetime

_PARTIAL = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")
_FMT = "%Y-%m-%dT%H:%M:%S.%fZ"


#: The first and last instant a FHIR dateTime can name: a time zone offset can carry a dateTime of the
#: first or last day past them in UTC; such an instant is taken as the edge.
_FIRST, _LAST = "0001-01-01T00:00:00.000000Z", "9999-12-31T23:59:59.999999Z"


def instant(dt: datetime) -> str:
    """A timezone-aware datetime as a fixed-width FHIR instant in UTC (microseconds, `Z`)."""
    try:
        return dt.astimezone(UTC).strftime(_FMT)
    except OverflowError:  # e.g. 0001-01-01T00:30:00+01:00: before the first instant in UTC
        return _FIRST if dt.year == 1 else _LAST


def now_instant() -> str:
    return instant(datetime.now(UTC))


def date_range(value: str) -> tuple[str, str]:
    """Raise ValueError when `value` is not a FHIR date/dateTime/instant."""
    m = _PARTIAL.match(value)
    if m:
        year = int(m.group(1))
        month = int(m.group(2) or 0)
        day = int(m.group(3) or 0)
        lo_m, hi_m = (month, month) if month else (1, 12)
        if month and not 1 <= month <= 12:
            raise ValueError(f"{value}: there is no month {month}")
        lo_d = day or 1
        hi_d = day or calendar.monthrange(year, hi_m)[1]
        if day and not 1 <= day <= calendar.monthrange(year, month)[1]:
            raise ValueError(f"{value}: that day does not exist")
        return (
            f"{year:04d}-{lo_m:02d}-{lo_d:02d}T00:00:00.000000Z",
            f"{year:04d}-{hi_m:02d}-{hi_d:02d}T23:59:59.999999Z",
        )
    dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    if dt.year < 1 or dt.year > 9999:  # pragma: no cover - fromisoformat already refuses these
        raise ValueError(value)
    return instant(dt), instant(dt)
