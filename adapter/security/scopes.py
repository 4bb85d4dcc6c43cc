"""SMART App Launch v2 scopes (`system/Task.rs`, `system/*.cruds`) and their v1 forms (`.read`, `.write`)."""

from __future__ import annotations

import re
from dataclasses import dataclass

_SCOPE = re.compile(r"^(system|user|patient)/(\*|[A-Z][A-Za-z]+)\.(read|write|\*|[cruds]+)$")
_V1 = {"read": "rs", "write": "cud", "*": "cruds"}

#: FHIR interactions by the SMART v2 permission letter they need.
CREATE, READ, UPDATE, DELETE, SEARCH = "c", "r", "u", "d", "s"


@dataclass(frozen=True)
class Scope:
    context: str
    resource_type: str
    permissions: frozenset[str]

    def allows(self, resource_type: str, permission: str) -> bool:
        return (
            self.context == "system"
            and self.resource_type in ("*", resource_type)
            and permission in self.permissions
        )


def parse_scopes(raw: str) -> frozenset[Scope]:
    """Scopes this server understands; others (openid, launch, ...) are ignored."""
    out = set()
    for part in raw.split():
        m = _SCOPE.match(part)
        if not m:
            continue
        perms = _V1.get(m.group(3), m.group(3))
        if len(set(perms)) != len(perms) or "".join(sorted(perms, key="cruds".index)) != perms:
            continue  # v2 letters must be unique and in c-r-u-d-s order
        out.add(Scope(m.group(1), m.group(2), frozenset(perms)))
    return frozenset(out)


def allows(scopes: frozenset[Scope], resource_type: str, permission: str) -> bool:
    return any(s.allows(resource_type, permission) for s in scopes)
