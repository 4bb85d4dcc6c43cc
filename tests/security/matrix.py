"""The authorisation matrix, derived from the policy data (mappings/access-policy.yaml, read here on its
own, not through the adapter): for every role, resource type, interaction and target (a resource of the
caller's own organisation, of another organisation, an unknown id) what the answer must be.

`tests/security/test_matrix.py` asks the running server every cell; `readme_tables()` renders the same
expectations as the README's tables, and a test keeps the two equal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from adapter.config import MAPPINGS_DIR

POLICY: dict[str, Any] = yaml.safe_load((MAPPINGS_DIR / "access-policy.yaml").read_text(encoding="utf-8"))
TASKS: dict[str, Any] = yaml.safe_load((MAPPINGS_DIR / "task-transitions.yaml").read_text(encoding="utf-8"))
ROLES: tuple[str, ...] = (*POLICY["roles"], "anonymous")
TYPES = (
    "Patient",
    "ServiceRequest",
    "Task",
    "GuidanceResponse",
    "Observation",
    "Consent",
    "Organization",
    "Practitioner",
    "PractitionerRole",
    "Condition",
    "CarePlan",
    "Encounter",
    "Goal",
    "EpisodeOfCare",
    "AuditEvent",
)
READS = ("read", "vread", "history", "search", "$validate")
INTERACTIONS = (*READS, "create", "update")
#: Operations on an instance of a type (besides $validate on every type).
OPERATIONS = {
    "Patient": ("$themes", "$apply"),
    "CarePlan": ("$progress",),
    "ServiceRequest": ("$request-consult",),
    "Task": ("$accept-advice",),
}
TARGETS = ("own", "other", "unknown")

#: What a referrer has a part in: what its referral carried, and the Task, decision and plan it got back.
REFERRAL_PARTS = frozenset(
    {
        "Patient",
        "ServiceRequest",
        "Task",
        "GuidanceResponse",
        "Observation",
        "Consent",
        "Organization",
        "Practitioner",
        "PractitionerRole",
        "Condition",
        "CarePlan",
    }
)
#: What a consult request is made of.
CONSULT_PARTS = frozenset({"Task", "ServiceRequest"})

#: The rights each route asks for, besides the type's own (SMART letter), as the routers declare them;
#: `role`: an `operations` entry of the policy; `nurse`: only a role that sees all data (themes).
CREATE_ROUTES: dict[str, dict[str, Any]] = {
    "Encounter": {"rights": [("Encounter", "c"), ("CarePlan", "u")]},
    "Patient": {"rights": [("Patient", "c"), ("CarePlan", "u")]},
    "Observation": {"rights": [("Observation", "c")], "nurse_or": ("CarePlan", "u")},  # assessment, birth
    "Goal": {"rights": [("Goal", "c"), ("CarePlan", "u")], "nurse": True},
    "Consent": {"rights": [("Consent", "c")], "role": "sharing-consent"},
    "Task": {"rights": [("Task", "c"), ("ServiceRequest", "c")], "sends": True},  # notified pull
}
UPDATE_ROUTES: dict[str, dict[str, Any]] = {
    "Task": {"rights": [("Task", "u")]},
    "Goal": {"rights": [("Goal", "u")], "nurse": True},
    "Consent": {"rights": [("Consent", "u")], "role": "sharing-consent"},
}
OPERATION_ROUTES: dict[str, dict[str, Any]] = {
    "$validate": {"rights": [], "reads": True},
    "$progress": {"rights": [("CarePlan", "r")], "reads": True},
    "$themes": {"rights": [("Patient", "r"), ("Observation", "s"), ("Goal", "s")], "reads": True},
    "$apply": {"rights": [("CarePlan", "c")]},
    "$request-consult": {
        "rights": [("ServiceRequest", "c"), ("Task", "c")],
        "role": "request-consult",
    },
    "$accept-advice": {
        "rights": [("Task", "u"), ("GuidanceResponse", "u"), ("CarePlan", "u"), ("ServiceRequest", "r")],
        "role": "accept-advice",
    },
}
#: How the README names what a create or update is.
LABELS = {
    ("create", "Task"): "Task (a notified-pull notification)",
    ("create", "Patient"): "Patient (the child born)",
    ("create", "Observation"): "Observation (theme, delivery date)",
    ("create", "Consent"): "Consent (sharing)",
    ("update", "Consent"): "Consent (sharing)",
    ("create", "Encounter"): "Encounter (home visit)",
}
READ_LETTER = {"read": "r", "vread": "r", "history": "r", "search": "s", "$validate": "r"}


@dataclass(frozen=True)
class Expected:
    """`status` exactly; or `passes`: past every authorisation check (not 401/403, never 5xx); `total`
    for a search."""

    status: int | None = None
    passes: bool = False
    total: int | None = None

    def holds(self, status: int, total: int | None) -> bool:
        if status >= 500:
            return False
        if self.passes:
            return status not in (401, 403)
        return status == self.status and (self.total is None or total == self.total)

    def __str__(self) -> str:
        if self.passes:
            return "allowed"
        return f"{self.status}" + (f" total {self.total}" if self.total is not None else "")


def role_policy(role: str) -> dict[str, Any]:
    return dict(POLICY["roles"].get(role, {"data": "none", "types": [], "intake": "none"}))


def may(role: str, rtype: str, letter: str) -> bool:
    """The role lists the type (never an explicit-only type through "*"); every token has all letters."""
    types = role_policy(role)["types"]
    return bool(letter) and (rtype in types or (types == "*" and rtype not in POLICY["explicit_only"]))


def visible(role: str, rtype: str, target: str) -> bool:
    """Whether the role sees the target resource of this type (its data scope)."""
    if target == "unknown":
        return False
    data = role_policy(role)["data"]
    if data == "all":
        return True
    if data == "summaries":  # the OZKS: every client's summary (the EpisodeOfCare targets are summaries)
        return rtype == "EpisodeOfCare"
    if target != "own":
        return False
    return (data == "organization" and rtype in REFERRAL_PARTS) or (
        data == "consult" and rtype in CONSULT_PARTS
    )


def _route_allows(role: str, route: dict[str, Any]) -> bool:
    if "role" in route and role not in POLICY["operations"].get(route["role"], []):
        return False
    nurse = role_policy(role)["data"] == "all"
    if route.get("nurse") and not nurse:
        return False
    if "nurse_or" in route and not (nurse or may(role, *route["nurse_or"])):
        return False
    if route.get("sends") and role_policy(role)["intake"] == "none":
        return False
    return all(may(role, t, letter) for t, letter in route["rights"])


def expected(role: str, rtype: str, interaction: str, target: str) -> Expected:
    """The answer the server owes this role for this interaction on this target."""
    if role == "anonymous":
        return Expected(401)
    if rtype == "AuditEvent":
        return _audit_event(role, interaction, target)
    if interaction in READS:
        if not may(role, rtype, READ_LETTER[interaction]):
            return Expected(403)
        if interaction == "search":
            return Expected(200, total=1 if visible(role, rtype, target) else 0)
        return Expected(200 if visible(role, rtype, target) else 404)
    routes = {"create": CREATE_ROUTES, "update": UPDATE_ROUTES}.get(interaction)
    if routes is not None:
        route = routes.get(rtype)
        if route is None:
            return Expected(405)
        if not _route_allows(role, route):
            return Expected(403)
        if interaction == "update":
            return Expected(200 if visible(role, rtype, target) else 404)
        return Expected(passes=True)
    route = OPERATION_ROUTES[interaction]
    if not _route_allows(role, route):
        return Expected(403)
    if route.get("reads"):
        return Expected(200 if visible(role, rtype, target) else 404)
    return Expected(passes=True)


def expected_export(role: str, pseudonymised: bool) -> Expected:
    """The answer to a kick-off of `$export` (a token with every scope): 202 when the role's `export`
    right covers the variant asked for, else 403 (access-policy.yaml `export`)."""
    if role == "anonymous":
        return Expected(401)
    right = role_policy(role).get("export", "none")
    return Expected(202 if right == "any" or (right == "pseudonymised" and pseudonymised) else 403)


def _exports(role: str) -> str:
    asked = [p for p in (False, True) if expected_export(role, p).status == 202]
    return {0: "no", 1: "pseudonymised only", 2: "yes (or pseudonymised)"}[len(asked)]


def _audit_event(role: str, interaction: str, target: str) -> Expected:
    """The audit log: read and searched by a role that lists AuditEvent by name; never written."""
    if interaction in ("create", "update"):
        return Expected(405)
    if interaction in ("vread", "history"):
        return Expected(404)  # not a stored resource: the audit log keeps its own chain
    if not may(role, "AuditEvent", "r"):
        return Expected(403)
    if interaction == "$validate":
        return Expected(404)
    if interaction == "search":
        return Expected(200, total=None)
    return Expected(200 if target != "unknown" else 404)


def interactions(rtype: str) -> tuple[str, ...]:
    return (*INTERACTIONS, *OPERATIONS.get(rtype, ()))


def cells() -> list[tuple[str, str, str, str]]:
    return [
        (role, rtype, interaction, target)
        for role in ROLES
        for rtype in TYPES
        for interaction in interactions(rtype)
        for target in TARGETS
    ]


# --- the README's tables ---------------------------------------------------------------------------
def _reads_cell(role: str, rtype: str) -> str:
    own, other = expected(role, rtype, "read", "own"), expected(role, rtype, "read", "other")
    if own.status == 403:
        return "—"
    if other.status == 200:
        return "OZKS summaries" if role_policy(role)["data"] == "summaries" else "all"
    if own.status == 200:
        return "consult requests" if role_policy(role)["data"] == "consult" else "own referrals"
    return "none (404)"


def _changes(role: str) -> str:
    done = []
    for interaction, routes in (("create", CREATE_ROUTES), ("update", UPDATE_ROUTES)):
        kinds = [
            LABELS.get((interaction, t), t)
            for t in routes
            if expected(role, t, interaction, "own") != Expected(403)
        ]
        if kinds:
            done.append(f"{interaction} {', '.join(kinds)}")
    ops = [op for op in OPERATION_ROUTES if op != "$validate" and _route_allows(role, OPERATION_ROUTES[op])]
    if ops:
        done.append(", ".join(ops))
    return "; ".join(done) or "nothing"


def _task_moves(role: str) -> str:
    moves = [
        f"{kind}: {', '.join(rules['moved_by'][role]) or 'none'}"
        + (
            f" (changes only {', '.join(rules['changes_by'][role])})"
            if role in rules.get("changes_by", {})
            else ""
        )
        for kind, rules in TASKS["kinds"].items()
        if role in rules.get("moved_by", {})
    ]
    return "; ".join(moves) or "—"


def readme_tables() -> str:
    """What each role may read (read, vread, history, search, $validate), per resource type, and change."""
    roles = [r for r in ROLES if r != "anonymous"]
    lines = [
        "| resource type | " + " | ".join(f"`{r}`" for r in roles) + " |",
        "| --- |" + " --- |" * len(roles),
    ]
    for rtype in TYPES:
        lines.append(f"| {rtype} | " + " | ".join(_reads_cell(r, rtype) for r in roles) + " |")
    lines += [
        "",
        "| role | may send referrals | creates, updates, operations (else 403 or 405) | moves a Task to "
        "| `$export` |",
        "| --- | --- | --- | --- | --- |",
    ]
    for role in roles:
        intake = {"any": "yes", "own": "in its own name", "none": "no"}[role_policy(role)["intake"]]
        lines.append(f"| `{role}` | {intake} | {_changes(role)} | {_task_moves(role)} | {_exports(role)} |")
    return "\n".join(lines)
