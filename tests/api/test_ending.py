"""Ending the programme (issue #22, domain page §7), on SQLite and PostgreSQL: the JGZ ends it with a date
and a reason; the EpisodeOfCare finishes (cancelled when she never enrolled), the care plan completes or
is revoked with its visits not done cancelled, the referral Task completes and says why. Completion at
the child's 2nd birthday (`careplans complete-due`) is the same path with reason completed. Bad input is
a 4xx naming the element, and nothing is stored.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from adapter.fhir.validator import has_errors, validate
from adapter.workflows.plans import complete_due
from tests.api.helpers import path_status
from tests.conftest import composed
from tests.path_helpers import (
    ENDING_REASONS,
    code_of,
    ending,
    extension,
    intake,
    intake_visit,
    parts,
    phases,
    post_json,
    versions,
)

VISIT_DAY = "2026-03-09"


def _enrolled(
    client: TestClient, referral: dict[str, Any]
) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    out = intake(client, referral)
    patient = f"Patient/{out['Patient']['id']}"
    r = post_json(
        client,
        f"/ServiceRequest/{out['ServiceRequest']['id']}/$intake-visit",
        intake_visit(patient, VISIT_DAY, takes_part=True),
    )
    assert r.status_code == 200, r.text
    return out, parts(r.json())["programme"][0]


def _end(
    client: TestClient, programme: dict[str, Any], reason: str | None, on: str | None, note: str | None = None
) -> Any:
    return post_json(client, f"/EpisodeOfCare/{programme['id']}/$end", ending(reason, on, note))


@pytest.mark.parametrize("reason", ENDING_REASONS)
def test_every_reason_ends_the_programme_plan_and_referral(
    client: TestClient, referral: dict[str, Any], reason: str
) -> None:
    out, programme = _enrolled(client, referral)
    r = _end(client, programme, reason, "2026-11-20", "Said at the last visit")
    assert r.status_code == 200, r.text
    ended = r.json()
    assert ended["status"] == "finished"
    assert ended["period"] == {"start": VISIT_DAY, "end": "2026-11-20"}
    why = extension(ended, "ending-reason")[0]["valueCodeableConcept"]
    assert (code_of(why), why["text"]) == (reason, "Said at the last visit")
    assert [h["status"] for h in ended["statusHistory"]] == ["planned", "active", "finished"]
    assert ended["statusHistory"][-1]["period"] == {"start": "2026-11-20"}
    # she ended in the infancy phase (born, expected, 2026-08-31): the phases stop there
    assert phases(ended)[-1] == ("infancy", "2026-08-31", "2026-11-20")

    plan = client.get(f"/CarePlan/{out['CarePlan']['id']}").json()
    assert plan["status"] == ("completed" if reason == "completed" else "revoked")
    statuses = {a["detail"]["status"] for a in plan["activity"]}
    assert statuses == {"completed", "cancelled"}  # the intake visit done; nothing planned any more
    task = client.get(f"/Task/{out['Task']['id']}").json()
    assert (task["status"], path_status(task), code_of(task["statusReason"])) == (
        "completed",
        "ended",
        reason,
    )


def test_an_ending_without_a_reason_is_422_naming_it_and_stores_nothing(
    client: TestClient, referral: dict[str, Any]
) -> None:
    out, programme = _enrolled(client, referral)
    refs = [
        f"EpisodeOfCare/{programme['id']}",
        f"Task/{out['Task']['id']}",
        f"CarePlan/{out['CarePlan']['id']}",
    ]
    seen = versions(client, *refs)
    r = _end(client, programme, None, "2026-11-20")
    assert r.status_code == 422 and r.json()["issue"][0]["expression"] == ["Parameters.parameter[reason]"]
    r = _end(client, programme, "bored", "2026-11-20")
    assert r.status_code == 422 and r.json()["issue"][0]["expression"] == ["Parameters.parameter[reason]"]
    assert versions(client, *refs) == seen


def test_an_ending_before_her_enrolment_is_422_naming_the_date(
    client: TestClient, referral: dict[str, Any]
) -> None:
    out, programme = _enrolled(client, referral)
    seen = versions(client, f"EpisodeOfCare/{programme['id']}", f"Task/{out['Task']['id']}")
    r = _end(client, programme, "not-reachable", "2026-03-08")
    assert r.status_code == 422, r.text
    assert r.json()["issue"][0]["expression"] == ["Parameters.parameter[date]"]
    assert "2026-03-09" in r.json()["issue"][0]["diagnostics"]
    assert versions(client, f"EpisodeOfCare/{programme['id']}", f"Task/{out['Task']['id']}") == seen
    assert _end(client, programme, "not-reachable", VISIT_DAY).status_code == 200  # the day itself is fine


def test_an_ending_without_a_date_is_422(client: TestClient, referral: dict[str, Any]) -> None:
    _, programme = _enrolled(client, referral)
    r = _end(client, programme, "other", None)
    assert r.status_code == 422 and r.json()["issue"][0]["expression"] == ["Parameters.parameter[date]"]


def test_ending_an_ended_programme_is_409_and_changes_nothing(
    client: TestClient, referral: dict[str, Any]
) -> None:
    out, programme = _enrolled(client, referral)
    assert _end(client, programme, "moved", "2026-06-01").status_code == 200
    seen = versions(client, f"EpisodeOfCare/{programme['id']}", f"Task/{out['Task']['id']}")
    r = _end(client, programme, "other", "2026-07-01")
    assert r.status_code == 409, r.text
    assert r.json()["issue"][0]["expression"] == ["EpisodeOfCare.status"]
    assert versions(client, f"EpisodeOfCare/{programme['id']}", f"Task/{out['Task']['id']}") == seen


def test_an_unknown_programme_is_404(client: TestClient) -> None:
    assert post_json(client, "/EpisodeOfCare/nope/$end", ending("other", "2026-07-01")).status_code == 404


def test_ending_before_enrolment_cancels_the_programme(client: TestClient, referral: dict[str, Any]) -> None:
    """Not reachable before the intake visit: the programme never started; the date may not lie before
    the referral."""
    out = intake(client, referral)
    programme = client.get("/EpisodeOfCare", params={"patient": f"Patient/{out['Patient']['id']}"}).json()[
        "entry"
    ][0]["resource"]
    r = _end(client, programme, "not-reachable", "2026-03-01")
    assert r.status_code == 422 and r.json()["issue"][0]["expression"] == ["Parameters.parameter[date]"]
    r = _end(client, programme, "not-reachable", "2026-03-20")
    assert r.status_code == 200, r.text
    ended = r.json()
    assert (
        ended["status"] == "cancelled" and ended["period"] == {"end": "2026-03-20"} and "extension" in ended
    )
    assert phases(ended) == []
    assert client.get(f"/CarePlan/{out['CarePlan']['id']}").json()["status"] == "revoked"


def test_an_ended_consult_is_cancelled_with_the_programme(
    client: TestClient, referral: dict[str, Any]
) -> None:
    out = intake(client, referral)
    patient = f"Patient/{out['Patient']['id']}"
    r = post_json(
        client,
        f"/ServiceRequest/{out['ServiceRequest']['id']}/$intake-visit",
        intake_visit(patient, VISIT_DAY, takes_part=True, forced_framework=True),
    )
    consult = parts(r.json())["consult"][0]
    programme = parts(r.json())["programme"][0]
    assert _end(client, programme, "referred-to-other-care", "2026-04-01").status_code == 200
    assert client.get(f"/Task/{consult['id']}").json()["status"] == "cancelled"


def test_completion_at_the_second_birthday_is_the_same_path_with_reason_completed(
    client: TestClient, referral: dict[str, Any]
) -> None:
    out, programme = _enrolled(client, referral)
    end = date.fromisoformat(out["CarePlan"]["period"]["end"])
    assert complete_due(composed(client), end + timedelta(days=1)) == [f"CarePlan/{out['CarePlan']['id']}"]
    ended = client.get(f"/EpisodeOfCare/{programme['id']}").json()
    assert ended["status"] == "finished" and ended["period"] == {"start": VISIT_DAY, "end": end.isoformat()}
    assert code_of(extension(ended, "ending-reason")[0]["valueCodeableConcept"]) == "completed"
    assert phases(ended)[-1][0] == "toddler"
    assert client.get(f"/CarePlan/{out['CarePlan']['id']}").json()["status"] == "completed"
    task = client.get(f"/Task/{out['Task']['id']}").json()
    assert (task["status"], path_status(task)) == ("completed", "ended")
    assert complete_due(composed(client), date(2031, 1, 1)) == []  # once


def test_voorzorg_verder_continues_the_programme_after_the_second_birthday(
    client: TestClient, referral: dict[str, Any]
) -> None:
    out, programme = _enrolled(client, referral)
    patient = f"Patient/{out['Patient']['id']}"
    r = post_json(
        client,
        "/PlanDefinition/voorzorg-plan-voorzorg-verder/$apply",
        {"resourceType": "Parameters", "parameter": [{"name": "subject", "valueString": patient}]},
    )
    assert r.status_code == 201, r.text
    verder = r.json()
    end = date.fromisoformat(out["CarePlan"]["period"]["end"])
    complete_due(composed(client), end + timedelta(days=1))
    going = client.get(f"/EpisodeOfCare/{programme['id']}").json()
    assert going["status"] == "active" and phases(going)[-1] == (
        "verder",
        end.isoformat(),
        verder["period"]["end"],
    )
    complete_due(composed(client), date.fromisoformat(verder["period"]["end"]) + timedelta(days=1))
    ended = client.get(f"/EpisodeOfCare/{programme['id']}").json()
    assert ended["status"] == "finished" and ended["period"]["end"] == verder["period"]["end"]
    assert code_of(extension(ended, "ending-reason")[0]["valueCodeableConcept"]) == "completed"


def test_the_programme_the_adapter_writes_conforms_to_its_profile_planned_active_and_ended(
    client: TestClient, referral: dict[str, Any]
) -> None:
    out = intake(client, referral)
    [planned] = [
        e["resource"]
        for e in client.get("/EpisodeOfCare", params={"patient": f"Patient/{out['Patient']['id']}"}).json()[
            "entry"
        ]
    ]
    _, active = _enrolled(client, referral)
    ended = _end(client, active, "other", "2026-06-01", "Moved abroad").json()
    for programme in (planned, active, ended):
        assert not has_errors(issues := validate(programme)), issues
    task = client.get(f"/Task/{out['Task']['id']}").json()
    assert not has_errors(issues := validate(task)), issues  # businessStatus from voorzorg-path-status
