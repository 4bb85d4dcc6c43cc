"""Helpers for the security tests: clients acting for a role/organisation, tokens, the audit log."""

from __future__ import annotations

import base64
import json
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response

from adapter.config import Settings
from adapter.security.audit import AuditLog
from adapter.store.engine import Store
from tests.conftest import (  # the failing trigger: re-exported for the security tests
    FHIR_JSON_HEADERS,
    bearer,
    install_failing_trigger,
    remove_failing_trigger,
)

__all__ = ["install_failing_trigger", "remove_failing_trigger"]

AGB = "http://fhir.nl/fhir/NamingSystem/agb-z"
ORG_A = f"{AGB}|09012345"  # the example referral's requester (Verloskundigenpraktijk De Wieg)
ORG_B = f"{AGB}|01111111"  # another obstetric practice
BSN = "999911120"
NAMES = ("Jansen", "Sanne")
PATIENT_ENTITY_ROLE = "1"
SUCCESS, REFUSED, SERIOUS = "0", "4", "8"


def client_as(app: FastAPI, settings: Settings, **token: Any) -> TestClient:
    """A client of the app with a token of the embedded issuer (`bearer` arguments)."""
    return TestClient(app, headers=bearer(settings, **token), raise_server_exceptions=False)


def anonymous(app: FastAPI) -> TestClient:
    return TestClient(app, raise_server_exceptions=False)


def obstetric(app: FastAPI, settings: Settings, organization: str = ORG_A) -> TestClient:
    return client_as(
        app,
        settings,
        role="obstetric",
        scope="system/*.cruds",
        organization=organization,
        client_id=f"obstetric-{organization.rsplit('|', 1)[1]}",
    )


def privacy_officer(app: FastAPI, settings: Settings) -> TestClient:
    return client_as(
        app,
        settings,
        role="privacy-officer",
        scope="system/AuditEvent.rs",
        organization=None,
        client_id="privacy-officer",
    )


def refusal(r: Response, status: int) -> dict[str, Any]:
    """The OperationOutcome of a refused request: the status, FHIR JSON, error issues that say why."""
    assert r.status_code == status, r.text[:500]
    assert r.headers["content-type"].startswith("application/fhir+json"), r.headers
    out: dict[str, Any] = r.json()
    assert out["resourceType"] == "OperationOutcome", out
    assert out["issue"] and all(i["severity"] == "error" and i.get("diagnostics") for i in out["issue"]), out
    return out


def post_referral(client: TestClient, body: Any) -> Response:
    return client.post(
        "/", content=body if isinstance(body, str | bytes) else json.dumps(body), headers=FHIR_JSON_HEADERS
    )


def of_type(bundle: dict[str, Any], rtype: str) -> dict[str, Any]:
    found = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == rtype]
    assert len(found) == 1, f"{len(found)} {rtype} in the response"
    return found[0]


def set_requester_org(bundle: dict[str, Any], organization: str) -> None:
    system, _, value = organization.partition("|")
    for e in bundle["entry"]:
        if e["resource"]["resourceType"] == "Organization":
            e["resource"]["identifier"] = [{"system": system, "value": value}]


# --- the audit log ----------------------------------------------------------------------------------
def events(store: Store) -> list[dict[str, Any]]:
    """Every AuditEvent, oldest first."""
    total, found = AuditLog(store).search(None, 10_000, 0)
    assert total == len(found)
    return list(reversed(found))


def events_at(store: Store, site: str) -> list[dict[str, Any]]:
    """AuditEvents of requests with this `METHOD /path`, oldest first."""
    return [e for e in events(store) if e["source"]["site"] == site]


def last_at(store: Store, site: str) -> dict[str, Any]:
    found = events_at(store, site)
    assert found, f"no AuditEvent for {site}; sites: {[e['source']['site'] for e in events(store)]}"
    return found[-1]


def interaction(event: dict[str, Any]) -> str:
    return str(event["subtype"][0]["code"])


def client_id(event: dict[str, Any]) -> str:
    return str(event["agent"][0]["who"]["identifier"]["value"])


def address(event: dict[str, Any]) -> str:
    return str(event["agent"][0]["network"]["address"])


def on_behalf_of(event: dict[str, Any]) -> str | None:
    for a in event["agent"][1:]:
        if a.get("type", {}).get("text") == "on behalf of (organisation)":
            ident = a["who"]["identifier"]
            return f"{ident['system']}|{ident['value']}"
    return None


def patients(event: dict[str, Any]) -> list[str]:
    return [
        e["what"]["reference"]
        for e in event.get("entity", [])
        if e.get("role", {}).get("code") == PATIENT_ENTITY_ROLE and "what" in e
    ]


def entities(event: dict[str, Any]) -> list[str]:
    return [e["what"]["reference"] for e in event.get("entity", []) if "what" in e]


# --- hand-made JWTs ---------------------------------------------------------------------------------
def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64json(value: dict[str, Any]) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


# --- form bodies (POST _search, the token endpoint) need python-multipart ---------------------------
try:
    import python_multipart  # noqa: F401

    HAVE_FORM_PARSER = True
except ImportError:  # pragma: no cover - depends on the environment
    HAVE_FORM_PARSER = False

NO_FORM_PARSER = (
    "BUG: python-multipart is not installed (declared in pyproject.toml since b2b6aa8; an environment "
    "without it answers every form body - POST /auth/token, POST [type]/_search - with a 500)"
)
