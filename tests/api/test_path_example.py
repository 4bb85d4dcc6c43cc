"""The README's worked example of the client's path (section "The client's path"), with its files
examples/intake-visit.json, birth-report.json and end.json, gives what the README prints."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient

from adapter.config import PROJECT_ROOT
from tests.api.helpers import path_status
from tests.path_helpers import code_of, extension, intake, parts, phases, post_json


def _example(name: str, patient: str) -> dict[str, Any]:
    text = (PROJECT_ROOT / "examples" / name).read_text(encoding="utf-8").replace("PATIENT", patient)
    body: dict[str, Any] = json.loads(text)
    return body


def test_the_readme_example_from_referral_to_ending(client: TestClient, referral: dict[str, Any]) -> None:
    out = intake(client, referral)
    assert (out["Task"]["status"], path_status(out["Task"])) == ("accepted", "intake-planned")
    patient, referral_id = out["Patient"]["id"], out["ServiceRequest"]["id"]
    [programme] = [
        e["resource"]
        for e in client.get("/EpisodeOfCare", params={"patient": f"Patient/{patient}"}).json()["entry"]
    ]
    assert programme["status"] == "planned"

    r = post_json(
        client, f"/ServiceRequest/{referral_id}/$intake-visit", _example("intake-visit.json", patient)
    )
    assert r.status_code == 200, r.text
    done = parts(r.json())
    assert (done["referralTask"][0]["status"], path_status(done["referralTask"][0])) == (
        "in-progress",
        "enrolled",
    )
    assert (done["programme"][0]["status"], done["programme"][0]["period"]) == (
        "active",
        {"start": "2026-03-09"},
    )

    r = post_json(client, "/Observation", _example("birth-report.json", patient))
    assert r.status_code == 201, r.text
    assert phases(client.get(f"/EpisodeOfCare/{programme['id']}").json()) == [
        ("pregnancy", "2026-03-09", "2026-08-09"),
        ("infancy", "2026-08-10", "2027-08-09"),
        ("toddler", "2027-08-10", "2028-08-09"),
    ]

    r = post_json(
        client,
        f"/EpisodeOfCare/{programme['id']}/$end",
        json.loads((PROJECT_ROOT / "examples" / "end.json").read_text()),
    )
    assert r.status_code == 200, r.text
    ended = r.json()
    assert (ended["status"], ended["period"]) == ("finished", {"start": "2026-03-09", "end": "2027-02-01"})
    assert code_of(extension(ended, "ending-reason")[0]["valueCodeableConcept"]) == "not-reachable"
    task = client.get(f"/Task/{out['Task']['id']}").json()
    assert (task["status"], path_status(task), code_of(task["statusReason"])) == (
        "completed",
        "ended",
        "not-reachable",
    )
