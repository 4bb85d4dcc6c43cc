"""Helpers of the exchange tests: distinct referrals, a peer proxy that can be down, fake peers."""

from __future__ import annotations

import copy
import json
import random
import threading
import uuid
from collections.abc import Callable
from typing import Any

import requests
from fastapi.testclient import TestClient
from werkzeug import Request, Response

from adapter.store.engine import Store
from adapter.store.session import Session
from bench.referrals import bsns, variant
from tests.conftest import FHIR_JSON_HEADERS

THEME = "https://fhir.voorzorg.nl/CodeSystem/voorzorg-theme"


def fresh(referral: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The example referral for a woman (BSN) and referral number no other test uses; and her BSN."""
    bsn = next(bsns(random.Random(uuid.uuid4().int).randint(1, 10**9)))
    return variant(referral, bsn, f"EX-{uuid.uuid4().hex[:10]}"), bsn


def intake(client: TestClient, referral: dict[str, Any]) -> dict[str, dict[str, Any]]:
    r = client.post("/", content=json.dumps(referral), headers=FHIR_JSON_HEADERS)
    assert r.status_code == 200, r.text
    return {e["resource"]["resourceType"]: e["resource"] for e in r.json()["entry"]}


def goal(patient_ref: str, goal_id: str, text: str) -> dict[str, Any]:
    """A theme Goal of the client (written straight to the store, as the themes workflow would)."""
    return {
        "resourceType": "Goal",
        "id": goal_id,
        "lifecycleStatus": "active",
        "category": [{"coding": [{"system": THEME, "code": "gezondheid"}]}],
        "description": {"text": text},
        "subject": {"reference": patient_ref},
    }


def put(store: Store, *resources: dict[str, Any]) -> None:
    def work(s: Session) -> None:
        for r in resources:
            s.put(copy.deepcopy(r))

    store.write(work)


class Proxy:
    """A peer in front of the Medplum server: forwards every request and keeps what it forwarded, in
    order (the `X-Request-Id` and the Bundle). `hold_first` stalls the first answer until released."""

    def __init__(self, target: str, hold_first: bool = False) -> None:
        self.target = target
        self.seen: list[tuple[str, dict[str, Any]]] = []
        self.hold_first = hold_first
        self.forwarded = threading.Event()
        self.release = threading.Event()
        self._lock = threading.Lock()

    def __call__(self, request: Request) -> Response:
        body = request.get_data()
        r = requests.request(
            request.method,
            f"{self.target}{request.full_path.rstrip('?')}",
            data=body,
            headers={k: v for k, v in request.headers.items() if k.lower() in ("content-type", "if-match")},
            timeout=30,
        )
        with self._lock:
            self.seen.append((request.headers.get("X-Request-Id", ""), json.loads(body) if body else {}))
            first = len(self.seen) == 1
        if first and self.hold_first:
            self.forwarded.set()  # the peer has applied it; the sender now never hears so
            self.release.wait(60)
        headers = {k: v for k, v in r.headers.items() if k.lower() in ("content-type", "etag")}
        return Response(r.content, r.status_code, headers=headers)

    def message_ids(self) -> list[int]:
        return [int(rid.split("-")[2]) for rid, _ in self.seen if rid]


def fake_transaction_peer(
    log: list[int], lock: threading.Lock, status: Callable[[int], int] = lambda _: 200
) -> Callable[[Request], Response]:
    """A peer answering every transaction with success (ids made up), recording the message ids."""

    def handler(request: Request) -> Response:
        mid = int(request.headers["X-Request-Id"].split("-")[2])
        with lock:
            log.append(mid)
        code = status(mid)
        if code != 200:
            return Response(json.dumps({"resourceType": "OperationOutcome"}), code)
        bundle = json.loads(request.get_data())
        entries = [
            {
                "response": {
                    "status": "201" if e["request"]["method"] == "POST" else "200",  # 201: made
                    "location": f"{e['resource']['resourceType']}/p{i}/_history/1",
                }
            }
            for i, e in enumerate(bundle["entry"])
            if "resource" in e
        ]
        body = {"resourceType": "Bundle", "type": "transaction-response", "entry": entries}
        return Response(json.dumps(body), 200, content_type="application/fhir+json")

    return handler
