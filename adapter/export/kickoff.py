"""The kick-off of a Bulk Data export: its parameters read and checked, and who may ask for what.

    wanted = read_kickoff(query_items, prefer)       # 400 naming a parameter this server does not take
    types = exported_types(principal, wanted)        # 403 for a role without the export right, ...

Who may export is data (mappings/access-policy.yaml, `export` of each role): `any` (the identifiable
export, or the pseudonymised one with `_pseudonymise=true`), `pseudonymised` (only that one: research),
`none`. The token's SMART scopes must allow reading and searching each type exported (`system/*.rs`).
"""

from __future__ import annotations

from dataclasses import dataclass

from adapter.data import export_rules, pseudonymisation_rules, stored_types
from adapter.fhir.dates import date_range
from adapter.fhir.outcome import FhirError
from adapter.security.principal import Principal, role_policy
from adapter.security.scopes import READ, SEARCH, allows

#: The name this server gives the pseudonymised variant's parameter (not a Bulk Data parameter).
PSEUDONYMISE = "_pseudonymise"


@dataclass(frozen=True)
class Wanted:
    types: tuple[str, ...]  # as asked (`_type`); () = every type the caller may export
    since: str | None
    pseudonymised: bool


def read_kickoff(items: list[tuple[str, str]], prefer: str) -> Wanted:
    """The kick-off's parameters; 400 naming the first one this server does not take or understand."""
    rules = export_rules()
    for name, _ in items:
        if name not in rules["parameters"]:
            raise FhirError.one(
                400,
                f"$export does not take the parameter {name!r} (this server takes "
                f"{', '.join(rules['parameters'])})",
                name,
                code="not-supported",
            )
    if "respond-async" not in [p.strip() for p in prefer.split(",")]:
        raise FhirError.one(
            400, "$export answers asynchronously only: send Prefer: respond-async", code="required"
        )
    values = {name: [v for k, v in items if k == name] for name in rules["parameters"]}
    for fmt in values["_outputFormat"]:
        if fmt not in rules["output_formats"]:
            allowed = ", ".join(rules["output_formats"])
            raise FhirError.one(
                400,
                f"_outputFormat {fmt!r} is not supported ({allowed})",
                "_outputFormat",
                code="not-supported",
            )
    return Wanted(_types(values["_type"]), _since(values["_since"]), _flag(values[PSEUDONYMISE]))


def _types(raw: list[str]) -> tuple[str, ...]:
    asked = [t.strip() for value in raw for t in value.split(",")]
    exportable = set(export_rules()["types"]) & stored_types()
    for t in asked:
        if t not in exportable:
            raise FhirError.one(400, f"_type: {t!r} is not a type this server exports", "_type", code="value")
    return tuple(dict.fromkeys(asked))


def _since(raw: list[str]) -> str | None:
    if not raw:
        return None
    if len(raw) > 1:
        raise FhirError.one(400, "_since is given more than once", "_since", code="value")
    try:
        return date_range(raw[0])[0]
    except ValueError:
        raise FhirError.one(400, f"_since {raw[0]!r} is not a FHIR instant", "_since", code="value") from None


def _flag(raw: list[str]) -> bool:
    if not raw:
        return False
    if raw[-1] not in ("true", "false") or len(set(raw)) > 1:
        raise FhirError.one(400, f"{PSEUDONYMISE} is true or false", PSEUDONYMISE, code="value")
    return raw[-1] == "true"


def export_right(principal: Principal) -> str:
    """What the role may export (access-policy.yaml `export`): any, pseudonymised or none."""
    return str(role_policy(principal.role).get("export", "none"))


def exported_types(principal: Principal, wanted: Wanted, operation: str) -> tuple[str, ...]:
    """The types the job writes; 403 naming the operation when the role or scopes do not allow it."""
    _may_export(principal, wanted, operation)
    readable = [
        t
        for t in _exportable(wanted)
        if allows(principal.scopes, t, READ) and allows(principal.scopes, t, SEARCH)
    ]
    for t in wanted.types:
        if t not in readable:
            raise FhirError.one(
                403,
                f"{operation}: the token's scopes do not allow reading {t} (system/{t}.rs)",
                code="forbidden",
            )
    types = tuple(t for t in readable if not wanted.types or t in wanted.types)
    if not types:
        raise FhirError.one(
            403, f"{operation}: the token's scopes allow reading no type (system/*.rs)", code="forbidden"
        )
    return types


def _may_export(principal: Principal, wanted: Wanted, operation: str) -> None:
    """403 naming the operation unless the role may export this variant."""
    right = export_right(principal)
    if right == "none" or (right == "pseudonymised" and not wanted.pseudonymised):
        only = " (only with _pseudonymise=true)" if right == "pseudonymised" else ""
        raise FhirError.one(
            403, f"The role {principal.role!r} may not call {operation}{only}", code="forbidden"
        )


def _exportable(wanted: Wanted) -> list[str]:
    """The types the variant exports (400 naming _type for a type the pseudonymised one leaves out)."""
    exportable = [t for t in export_rules()["types"] if t in stored_types()]
    if not wanted.pseudonymised:
        return exportable
    research = pseudonymisation_rules()["types"]
    for t in wanted.types:
        if t not in research:
            raise FhirError.one(
                400, f"_type: {t} is not in the pseudonymised export", "_type", code="not-supported"
            )
    return [t for t in exportable if t in research]
