"""Who is asking: the verified token, in the terms the access policy uses."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from adapter.data import access_policy
from adapter.security.scopes import Scope, allows


@dataclass(frozen=True)
class Principal:
    client_id: str
    role: str
    organization: str | None  # "system|value" of the URA or AGB
    scopes: frozenset[Scope] = field(default_factory=frozenset)
    user: str | None = None  # the person on whose behalf the system acts, when the token says so
    issuer: str = ""

    def may(self, resource_type: str, permission: str) -> bool:
        types = role_policy(self.role).get("types", [])
        listed = resource_type in types or (
            types == "*" and resource_type not in _policy_file()["explicit_only"]
        )
        return listed and allows(self.scopes, resource_type, permission)

    @property
    def data_scope(self) -> str:
        return str(role_policy(self.role).get("data", "none"))

    @property
    def intake(self) -> str:
        return str(role_policy(self.role).get("intake", "none"))


def _policy_file() -> Any:
    return access_policy()


def _policy() -> dict[str, Any]:
    roles: dict[str, Any] = _policy_file()["roles"]
    return roles


def consult_request_markers() -> dict[str, dict[str, str]]:
    """Resource type -> the search-index token that marks a VoorZorg Consult request, and the reference
    parameter (`organization`) whose identifier is the organisation the request is put to."""
    markers: dict[str, dict[str, str]] = _policy_file()["consult_requests"]
    return markers


def role_policy(role: str) -> dict[str, Any]:
    return dict(_policy().get(role, {"data": "none", "types": [], "intake": "none"}))


def known_roles() -> tuple[str, ...]:
    return tuple(_policy())
