"""The README's promise end to end: send the example referral, get a decision, read the Task back."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import FHIR_JSON_HEADERS


def test_example_referral_is_accepted_for_voorzorg_and_the_task_is_readable(
    client: TestClient, referral: dict[str, Any]
) -> None:
    r = client.post("/", content=json.dumps(referral), headers=FHIR_JSON_HEADERS)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/fhir+json")
    bundle = r.json()
    assert bundle["type"] == "transaction-response"
    task = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Task")
    assert task["status"] == "accepted"
    read = client.get(f"/Task/{task['id']}")
    assert read.status_code == 200
    assert read.headers["etag"] == 'W/"1"'
    assert read.json()["businessStatus"]["coding"][0]["code"] == "intake-planned"
