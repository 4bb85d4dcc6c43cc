"""Helpers for the API tests: post a referral, find entries, edit the example referral."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Table, func, select

from adapter.store.engine import Store
from adapter.store.schema import (
    business_key,
    outbox_message,
    peer_resource,
    plan_visit,
    resource,
    resource_access,
    resource_version,
    search_index,
)
from tests.conftest import FHIR_JSON_HEADERS

#: Every table a refused request must leave as it was (the audit trail is the only thing it may add to).
DATA_TABLES: tuple[Table, ...] = (
    resource,
    resource_version,
    search_index,
    business_key,
    resource_access,
    outbox_message,
    peer_resource,
    plan_visit,
)

URN = "urn:uuid:5d0c3a4e-1b7f-4f3a-9b64-2b6f0b0a00"
OWN_ITEM = "https://fhir.voorzorg.nl/CodeSystem/voorzorg-referral-item"
TRACK = "https://fhir.voorzorg.nl/CodeSystem/voorzorg-track"
REASON = "https://fhir.voorzorg.nl/CodeSystem/voorzorg-decision-reason"
PATH_STATUS = "https://fhir.voorzorg.nl/CodeSystem/voorzorg-path-status"
BSN_SYSTEM = "http://fhir.nl/fhir/NamingSystem/bsn"
BSN = "999911120"
SR_SYSTEM = "urn:oid:2.16.528.1.1007.3.3.1234567.1"
SR_VALUE = "VZ-2026-0042"

# fullUrl suffixes of the example referral
PATIENT, ORG, SR, PANEL, EDD, PARITY, VV, FF, SPP, CONSENT, TASK = (
    "01",
    "02",
    "03",
    "04",
    "10",
    "11",
    "05",
    "06",
    "07",
    "08",
    "09",
)


def post(client: TestClient, body: Any, path: str = "/", **headers: str) -> Response:
    return client.post(
        path,
        content=body if isinstance(body, str | bytes) else json.dumps(body),
        headers={**FHIR_JSON_HEADERS, **headers},
    )


def entry(bundle: dict[str, Any], suffix: str) -> dict[str, Any]:
    """The entry of the example referral with this fullUrl suffix."""
    for e in bundle["entry"]:
        if e.get("fullUrl") == URN + suffix:
            return e  # type: ignore[no-any-return]
    raise KeyError(suffix)


def resource(bundle: dict[str, Any], suffix: str) -> dict[str, Any]:
    return entry(bundle, suffix)["resource"]  # type: ignore[no-any-return]


def drop(bundle: dict[str, Any], suffix: str) -> None:
    """Remove an entry and every reference to it (supportingInfo, hasMember)."""
    url = URN + suffix
    bundle["entry"] = [e for e in bundle["entry"] if e.get("fullUrl") != url]
    for e in bundle["entry"]:
        res = e["resource"]
        for key in ("supportingInfo", "hasMember"):
            if key in res:
                res[key] = [r for r in res[key] if r.get("reference") != url]
                if not res[key]:
                    del res[key]


def of_type(response_bundle: dict[str, Any], rtype: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in response_bundle["entry"] if e["resource"]["resourceType"] == rtype]


def one(response_bundle: dict[str, Any], rtype: str) -> dict[str, Any]:
    found = of_type(response_bundle, rtype)
    assert len(found) == 1, f"{len(found)} {rtype} in the response"
    return found[0]


def params(parameters: dict[str, Any]) -> dict[str, list[Any]]:
    """name -> the values of a Parameters resource."""
    out: dict[str, list[Any]] = {}
    for p in parameters["parameter"]:
        value = next(v for k, v in p.items() if k.startswith("value") or k == "resource")
        out.setdefault(p["name"], []).append(value)
    return out


def track_of(guidance: dict[str, Any]) -> str:
    contained = guidance["contained"][0]
    return str(params(contained)["track"][0]["code"])


def total(client: TestClient, query: str) -> int:
    r = client.get(query)
    assert r.status_code == 200, r.text
    return int(r.json()["total"])


def set_bool(bundle: dict[str, Any], suffix: str, value: bool) -> None:
    resource(bundle, suffix)["valueBoolean"] = value


def expressions(outcome: dict[str, Any]) -> list[str]:
    assert outcome["resourceType"] == "OperationOutcome", outcome
    return [x for i in outcome["issue"] for x in i.get("expression", [])]


def task_track(task: dict[str, Any]) -> str | None:
    """The track a referral Task's decision gave (its `track` output)."""
    for o in task.get("output", []):
        for c in o.get("valueCodeableConcept", {}).get("coding", []):
            if c.get("system") == TRACK:
                return str(c["code"])
    return None


def path_status(task: dict[str, Any]) -> str:
    """Where she is: the referral Task's businessStatus (voorzorg-path-status)."""
    coding = task["businessStatus"]["coding"][0]
    assert coding["system"] == PATH_STATUS
    return str(coding["code"])


def stored_rows(store: Store) -> tuple[int, ...]:
    """Rows per data table: what a refused request must not change, read from the store itself."""
    with store.engine.connect() as conn:
        return tuple(conn.execute(select(func.count()).select_from(t)).scalar_one() for t in DATA_TABLES)


def nothing_stored(client: TestClient) -> None:
    """Nothing at all in the store behind `client`'s app: no resource, version, index row, business key,
    access grant, outbox message or peer copy (every type, not only the ones a referral makes)."""
    counts = dict(zip((t.name for t in DATA_TABLES), stored_rows(client.app.state.ctx.store), strict=True))
    assert not any(counts.values()), counts
