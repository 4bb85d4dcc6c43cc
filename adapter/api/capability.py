"""The CapabilityStatement: what this server does, and only that, said the way a generic client reads it.

Built from the data the server runs on — the search parameters it indexes (mappings/search-parameters.yaml),
the includes those allow, the profiles of the package, the routes that take writes — and, per resource,
interaction and operation, the words of mappings/capability.yaml: what is accepted and why (a `create`
on Patient is a child born, a `transaction` is only a referral Bundle). `rest.security` names the token
endpoint of SMART Backend Services, so a client finds how to get a token from `/metadata` alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adapter import __version__
from adapter.config import Settings
from adapter.data import capability_notes, conformance_resources, search_parameters, stored_types
from adapter.fhir.models import FHIR_JSON, FHIR_VERSION, reference_targets
from adapter.fhir.search import IDENTIFIER_LINKS

#: Interactions a generic client can use on every stored type (rest.py).
READS = ("read", "vread", "search-type", "history-instance", "history-type")
#: The common search parameters every stored type takes (besides its own).
COMMON_PARAMS = (
    ("_id", "token", "The logical id (comma-separated for several)"),
    ("_lastUpdated", "date", "When the resource last changed, with prefixes gt, lt, ge, le, eq, ne"),
)
SMART_SECURITY = "http://terminology.hl7.org/CodeSystem/restful-security-service"
BACKPORT_SERVER = (
    "http://hl7.org/fhir/uv/subscriptions-backport/CapabilityStatement/backport-subscription-server-r4"
)
#: The Bulk Data Access IG's server CapabilityStatement ($export at system and Group level).
BULK_DATA_SERVER = "http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data"


def _notes() -> dict[str, Any]:
    return capability_notes()


def _type_notes(rtype: str) -> dict[str, Any]:
    found: dict[str, Any] = _notes().get("resources", {}).get(rtype, {})
    return found


def _interaction(rtype: str, code: str) -> dict[str, Any]:
    text = _type_notes(rtype).get(code) or _notes().get("interactions", {}).get(code)
    return {"code": code, "documentation": " ".join(str(text).split())} if text else {"code": code}


def _operation(name: str, definition: str) -> dict[str, Any]:
    out = {"name": name, "definition": definition}
    text = _notes().get("operations", {}).get(name)
    return {**out, "documentation": " ".join(str(text).split())} if text else out


def _search_params(rtype: str) -> list[dict[str, Any]]:
    own = [
        {"name": name, "type": p["type"], "documentation": f"FHIRPath: {p['expression']}"}
        for name, p in search_parameters().get(rtype, {}).items()
    ]
    return [{"name": n, "type": t, "documentation": d} for n, t, d in COMMON_PARAMS] + own


def _reference_params() -> list[tuple[str, str, tuple[str, ...]]]:
    """(source type, parameter, the types it may point at; () for any) of every reference parameter."""
    out: list[tuple[str, str, tuple[str, ...]]] = []
    for source, params in search_parameters().items():
        for name, p in params.items():
            if p["type"] != "reference":
                continue
            steps = str(p["expression"]).split(".")
            targets: tuple[str, ...] = (str(p["target"]),) if p.get("target") else ()
            if not targets and len(steps) == 2:
                targets = reference_targets(source, steps[1])
            out.append((source, name, targets))
    return out


def _includes(rtype: str) -> tuple[list[str], list[str]]:
    """`searchInclude` and `searchRevInclude` of a type: what _include / _revinclude accept for it."""
    refs = _reference_params()
    include = [f"{s}:{n}" for s, n, _ in refs if s == rtype]
    revinclude = [f"{s}:{n}" for s, n, targets in refs if not targets or rtype in targets]
    revinclude += [f"{s}:{n}" for (s, n), target in IDENTIFIER_LINKS.items() if target == rtype]
    return include, sorted(set(revinclude))


def stored_type(
    rtype: str, profiles: list[str], writes: Mapping[str, tuple[str, ...]], operations: list[dict[str, str]]
) -> dict[str, Any]:
    """The entry of a type the store holds: reads for all, the writes its routes take, documented."""
    written = writes.get(rtype, ())
    include, revinclude = _includes(rtype)
    entry: dict[str, Any] = {"type": rtype}
    if profiles:
        entry["supportedProfile"] = sorted(profiles)
    notes = _type_notes(rtype)
    if notes.get("documentation"):
        entry["documentation"] = " ".join(str(notes["documentation"]).split())
    entry |= {
        "interaction": [_interaction(rtype, code) for code in (*READS, *written)],
        "versioning": "versioned-update" if "update" in written else "versioned",
        "readHistory": True,
        "updateCreate": False,
        "conditionalCreate": False,
        "conditionalUpdate": False,
        "conditionalDelete": "not-supported",
        "searchInclude": include,
        "searchRevInclude": revinclude,
        "searchParam": _search_params(rtype),
        "operation": [_operation(o["name"], o["definition"]) for o in operations],
    }
    return {k: v for k, v in entry.items() if v != []}


def audit_event_type() -> dict[str, Any]:
    notes = _type_notes("AuditEvent")
    return {
        "type": "AuditEvent",
        "documentation": " ".join(str(notes.get("documentation", "")).split()),
        "interaction": [_interaction("AuditEvent", "read"), _interaction("AuditEvent", "search-type")],
        "searchParam": [
            {"name": "patient", "type": "reference", "documentation": "The client the access was about"}
        ],
    }


def conformance_type(rtype: str, operations: list[dict[str, str]]) -> dict[str, Any]:
    """A conformance type the server publishes: read and search, open to anyone."""
    text = " ".join(str(_notes().get("conformance", "")).split())
    entry: dict[str, Any] = {
        "type": rtype,
        "documentation": text,
        "interaction": [{"code": "read"}, {"code": "search-type"}],
        "searchParam": [{"name": "url", "type": "uri"}, {"name": "name", "type": "string"}],
    }
    if operations:
        entry["operation"] = [_operation(o["name"], o["definition"]) for o in operations]
    return entry


def security(settings: Settings) -> dict[str, Any]:
    """SMART Backend Services: the token endpoint is found at /.well-known/smart-configuration, as that
    specification says. The older `oauth-uris` extension is not used: R4 makes its `authorize` URI
    mandatory, and this server has no authorization endpoint (client_credentials only)."""
    return {
        "cors": bool(settings.cors_origins),
        "service": [
            {
                "coding": [{"system": SMART_SECURITY, "code": "SMART-on-FHIR", "display": "SMART-on-FHIR"}],
                "text": "SMART Backend Services (client_credentials, private_key_jwt)",
            }
        ],
        "description": " ".join(str(_notes().get("security", "")).split()),
    }


def profiles() -> dict[str, list[str]]:
    """Resource type -> the project's profiles of it."""
    out: dict[str, list[str]] = {}
    for r in conformance_resources():
        constraint = r.get("kind") == "resource" and r.get("derivation") == "constraint"
        if r["resourceType"] == "StructureDefinition" and constraint:
            out.setdefault(r["type"], []).append(r["url"])
    return out


def capability_statement(
    settings: Settings,
    *,
    writes: Mapping[str, tuple[str, ...]],
    instance_operations: Mapping[str, list[dict[str, str]]],
    conformance: Mapping[str, list[dict[str, str]]],
    system_operations: list[dict[str, str]],
) -> dict[str, Any]:
    known = profiles()
    types = sorted(stored_types())
    resources = [stored_type(t, known.get(t, []), writes, instance_operations.get(t, [])) for t in types]
    resources.append(audit_event_type())
    resources += [conformance_type(t, ops) for t, ops in conformance.items()]
    notes = _notes()
    statement: dict[str, Any] = {
        "resourceType": "CapabilityStatement",
        "url": f"{settings.base_url}/metadata",
        "name": "VoorZorgAdapter",
        "title": "VoorZorg FHIR R4 adapter",
        "status": "active",
        "date": "2026-11-23",
        "publisher": "VoorZorg",
        "kind": "instance",
        "software": {"name": "voorzorg-adapter", "version": __version__},
        "implementation": {"description": "VoorZorg FHIR R4 adapter", "url": settings.base_url},
        "fhirVersion": FHIR_VERSION,
        "format": [FHIR_JSON, "json"],
        "rest": [
            {
                "mode": "server",
                "documentation": " ".join(str(notes.get("rest", "")).split()),
                "security": security(settings),
                "resource": resources,
                "interaction": [
                    {"code": "transaction", "documentation": " ".join(str(notes["transaction"]).split())}
                ],
                "operation": [_operation(o["name"], o["definition"]) for o in system_operations],
            }
        ],
    }
    statement["instantiates"] = [BULK_DATA_SERVER]
    if "Subscription" in stored_types():
        statement["instantiates"].append(BACKPORT_SERVER)
    return statement
