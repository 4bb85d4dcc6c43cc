"""fhirpy, a generic FHIR client, against `voorzorg-adapter serve` on a port that is not 8080, with no
VOORZORG_BASE_URL and no URL aliases: it follows the server's paging links (it refuses links that do not
start with its base URL), counts with `count()` and asks for the referral loop with `_include`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from fhirpy import SyncFHIRClient

from tests.served import Served


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with Served(tmp_path_factory.mktemp("fhirpy") / "data") as s:
        yield s


@pytest.fixture(scope="module")
def fhirpy(server: Served) -> SyncFHIRClient:
    example = json.loads((Path(__file__).parent.parent / "examples" / "referral.json").read_text())
    token = server.token("--client", "de-wieg", "--role", "jgz", "--scope", "system/*.cruds")
    auth = {"Authorization": f"Bearer {token}"}
    r = requests.post(
        f"{server.url}/", json=example, headers={**auth, "Content-Type": "application/fhir+json"}, timeout=60
    )
    assert r.status_code == 200, r.text
    assert server.port != 8080
    return SyncFHIRClient(server.url, extra_headers=auth)


def test_paging_follows_the_servers_next_links(fhirpy: SyncFHIRClient) -> None:
    observations = fhirpy.resources("Observation").limit(2).fetch_all()  # 3 pages of 2
    assert len(observations) == 6
    assert len({o.id for o in observations}) == 6


def test_count_asks_for_the_total_only(fhirpy: SyncFHIRClient) -> None:
    assert fhirpy.resources("Observation").count() == 6
    assert fhirpy.resources("Task").search(status="accepted").count() == 1


def test_include_brings_the_referral_loop(fhirpy: SyncFHIRClient, server: Served) -> None:
    raw: Any = (
        fhirpy.resources("Task")
        .search(code="http://hl7.org/fhir/CodeSystem/task-code|fulfill")
        .include("Task", "focus")
        .include("Task", "patient")
        .revinclude("GuidanceResponse", "request", iterate=True)
        .fetch_raw()
    )
    kinds = sorted((e.search.mode, e.resource.resourceType) for e in raw.entry)
    assert kinds == [
        ("include", "GuidanceResponse"),
        ("include", "Patient"),
        ("include", "ServiceRequest"),
        ("match", "Task"),
    ]
    assert all(e.fullUrl.startswith(f"{server.url}/") for e in raw.entry)
    task = fhirpy.resources("Task").elements("status").first()
    assert task is not None and task.status == "accepted" and task.get("for") is None
