"""The nine themes through the REST facade: the nurse's assessments (POST /Observation) and goals
(POST /Goal, PUT /Goal/{id}), the care plan listing the goals, Patient/$themes, and who may see them."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response

from adapter.config import Settings
from adapter.store.engine import Store
from tests.api.test_careplan import _intake, _visit
from tests.conftest import FHIR_JSON_HEADERS
from tests.security.helpers import (
    ORG_A,
    REFUSED,
    SUCCESS,
    client_as,
    entities,
    events_at,
    interaction,
    last_at,
    obstetric,
    patients,
    refusal,
)

VZ = "https://fhir.voorzorg.nl/CodeSystem/"
THEME, SCALE, TREND = VZ + "voorzorg-theme", VZ + "voorzorg-theme-assessment", VZ + "voorzorg-theme-trend"
ACHIEVEMENT = "http://terminology.hl7.org/CodeSystem/goal-achievement"
NURSE = {"reference": "Practitioner/nurse-1", "display": "Wijkverpleegkundige VoorZorg"}
TA, TG = "urn:example:nurse-system:assessment", "urn:example:nurse-system:goal"


def _post(client: TestClient, path: str, body: Any) -> Response:
    return client.post(path, content=json.dumps(body), headers=FHIR_JSON_HEADERS)


def _assessment(
    subject: str,
    theme: str,
    level: str,
    when: str,
    ident: str,
    encounter: str | None = None,
    status: str = "final",
) -> dict[str, Any]:
    obs: dict[str, Any] = {
        "resourceType": "Observation",
        "identifier": [{"system": TA, "value": ident}],
        "status": status,
        "code": {"coding": [{"system": THEME, "code": theme}]},
        "subject": {"reference": subject},
        "effectiveDateTime": when,
        "performer": [NURSE],
        "valueCodeableConcept": {"coding": [{"system": SCALE, "code": level}]},
        "note": [{"text": "Besproken tijdens het huisbezoek."}],
    }
    if encounter:
        obs["encounter"] = {"reference": encounter}
    return obs


def _goal(
    subject: str,
    theme: str,
    target: str,
    ident: str,
    achievement: str = "in-progress",
    addresses: str | None = None,
) -> dict[str, Any]:
    goal: dict[str, Any] = {
        "resourceType": "Goal",
        "identifier": [{"system": TG, "value": ident}],
        "lifecycleStatus": "active",
        "achievementStatus": {"coding": [{"system": ACHIEVEMENT, "code": achievement}]},
        "category": [{"coding": [{"system": THEME, "code": theme}]}],
        "description": {
            "text": "Voor de geboorte een overzicht van de schulden en een afspraak met schuldhulp."
        },
        "subject": {"reference": subject},
        "startDate": "2026-03-10",
        "target": [
            {
                "measure": {"coding": [{"system": THEME, "code": theme}]},
                "detailCodeableConcept": {"coding": [{"system": SCALE, "code": target}]},
                "dueDate": "2026-08-01",
            }
        ],
    }
    if addresses:
        goal["addresses"] = [{"reference": addresses}]
    return goal


@pytest.fixture
def care(client: TestClient, referral: dict[str, Any]) -> dict[str, Any]:
    """An accepted referral with its first home visit recorded: Patient, CarePlan and the Encounter."""
    out = _intake(client, referral)
    r = _post(client, "/Encounter", _visit(out["CarePlan"], 1))
    assert r.status_code == 201, r.text
    return {**out, "Encounter": r.json(), "mother": f"Patient/{out['Patient']['id']}"}


def _total(client: TestClient, query: str) -> int:
    r = client.get(query)
    assert r.status_code == 200, r.text
    return int(r.json()["total"])


def _ids(client: TestClient, query: str) -> list[str]:
    r = client.get(query)
    assert r.status_code == 200, r.text
    return [e["resource"]["id"] for e in r.json().get("entry", [])]


def _parts(p: dict[str, Any]) -> dict[str, Any]:
    """name -> value of a Parameters part list (goal parts as a list of dicts)."""
    out: dict[str, Any] = {}
    for part in p["part"]:
        if part["name"] == "goal":
            out.setdefault("goal", []).append(_parts(part))
            continue
        out[part["name"]] = next(v for k, v in part.items() if k.startswith("value"))
    return out


def _themes(client: TestClient, patient: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    r = client.get(f"/{patient}/$themes")
    assert r.status_code == 200, r.text
    params = r.json()["parameter"]
    assert params[0] == {"name": "patient", "valueReference": {"reference": patient}}
    summary = _parts(next(p for p in params if p["name"] == "summary"))
    return summary, [_parts(p) for p in params if p["name"] == "theme"]


# --- assessments --------------------------------------------------------------------------------


def test_an_assessment_is_stored_and_found_by_patient_code_date_and_encounter(
    client: TestClient, care: dict[str, Any]
) -> None:
    mother, visit = care["mother"], f"Encounter/{care['Encounter']['id']}"
    day = care["Encounter"]["period"]["start"][:10]
    r = _post(
        client,
        "/Observation",
        _assessment(
            mother, "financiele-stabiliteit", "concern", care["Encounter"]["period"]["start"], "a1", visit
        ),
    )
    assert r.status_code == 201, r.text
    stored = r.json()
    assert r.headers["location"].endswith(f"/Observation/{stored['id']}/_history/1")
    assert stored["meta"]["profile"][0].endswith("/voorzorg-theme-observation")
    assert (
        client.get(f"/Observation/{stored['id']}").json()["valueCodeableConcept"]["coding"][0]["code"]
        == "concern"
    )
    by = f"/Observation?code={THEME}|financiele-stabiliteit"
    assert _ids(client, f"{by}&patient={mother}") == [stored["id"]]
    assert _ids(client, f"{by}&date={day}&encounter={visit}") == [stored["id"]]
    assert _ids(client, f"/Observation?encounter={visit}") == [stored["id"]]
    assert _total(client, f"{by}&date=gt{day}") == 0
    assert _total(client, f"/Observation?code={THEME}|veiligheid&patient={mother}") == 0


def test_a_resend_with_the_same_identifier_is_the_same_assessment(
    client: TestClient, care: dict[str, Any]
) -> None:
    body = _assessment(care["mother"], "veiligheid", "attention-needed", "2026-03-10T11:00:00+01:00", "a2")
    first = _post(client, "/Observation", body)
    again = _post(client, "/Observation", body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"] and again.json()["meta"]["versionId"] == "1"
    corrected = _post(client, "/Observation", {**body, "status": "corrected"})
    assert corrected.json()["id"] == first.json()["id"] and corrected.json()["meta"]["versionId"] == "2"
    assert _total(client, f"/Observation?code={THEME}|veiligheid") == 1


def _bad_theme(o: dict[str, Any]) -> None:
    o["code"]["coding"][0]["code"] = "slaap"


def _bad_level(o: dict[str, Any]) -> None:
    o["valueCodeableConcept"]["coding"][0]["code"] = "panic"


def _no_subject(o: dict[str, Any]) -> None:
    del o["subject"]


def _not_a_theme(o: dict[str, Any]) -> None:
    o["code"] = {"coding": [{"system": "http://snomed.info/sct", "code": "364325004"}]}


def _a_goal(o: dict[str, Any]) -> None:
    o.clear()
    o.update(_goal("Patient/x", "veiligheid", "no-concern", "g0"))


def _unknown_visit(o: dict[str, Any]) -> None:
    o["encounter"] = {"reference": "Encounter/does-not-exist"}


def _no_nurse(o: dict[str, Any]) -> None:
    del o["performer"]


@pytest.mark.parametrize(
    ("mutate", "status", "expression"),
    [
        (_bad_theme, 422, "Observation.code"),
        (_bad_level, 422, "Observation.valueCodeableConcept"),
        (_no_subject, 422, "Observation.subject"),
        (_not_a_theme, 422, "Observation.code"),
        (_a_goal, 400, "resourceType"),
        (_unknown_visit, 422, "Observation.encounter"),
        (_no_nurse, 422, "Observation.performer"),
    ],
    ids=[
        "unknown theme",
        "unknown scale level",
        "no subject",
        "not a theme",
        "a Goal",
        "unknown visit",
        "no nurse",
    ],
)
def test_an_assessment_that_does_not_fit_is_refused_naming_the_element_and_nothing_is_stored(
    client: TestClient, care: dict[str, Any], mutate: Any, status: int, expression: str
) -> None:
    before = _total(client, "/Observation")
    body = _assessment(care["mother"], "veiligheid", "concern", "2026-03-10", "bad")
    mutate(body)
    r = _post(client, "/Observation", body)
    assert r.status_code == status, r.text
    outcome = r.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert expression in [x for i in outcome["issue"] for x in i.get("expression", [])], outcome
    assert _total(client, "/Observation") == before
    assert _total(client, "/Goal") == 0


def test_an_assessment_of_someone_who_is_no_client_is_refused(
    client: TestClient, care: dict[str, Any]
) -> None:
    r = _post(
        client, "/Observation", _assessment("Patient/nobody", "veiligheid", "concern", "2026-03-10", "a3")
    )
    assert r.status_code == 422
    assert r.json()["issue"][0]["expression"] == ["Observation.subject"]


def test_an_identifier_of_another_clients_assessment_is_a_conflict_not_an_overwrite(
    client: TestClient, care: dict[str, Any]
) -> None:
    first = _post(
        client, "/Observation", _assessment(care["mother"], "veiligheid", "concern", "2026-03-10", "a4")
    )
    child = _post(client, "/Patient", _child(care["mother"]))
    assert child.status_code == 201, child.text
    other = _assessment(f"Patient/{child.json()['id']}", "veiligheid", "no-concern", "2026-09-01", "a4")
    r = _post(client, "/Observation", other)
    assert r.status_code == 409 and r.json()["issue"][0]["expression"] == ["Observation.identifier[0]"]
    assert client.get(f"/Observation/{first.json()['id']}").json()["subject"]["reference"] == care["mother"]


def test_a_birth_report_goes_to_the_care_plan_not_to_the_themes(
    client: TestClient, care: dict[str, Any]
) -> None:
    report = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "93857-1"}]},
        "subject": {"reference": care["mother"]},
        "valueDateTime": "2026-08-10T03:40:00+02:00",
    }
    r = _post(client, "/Observation", report)
    assert r.status_code == 201, r.text
    plan = client.get(f"/CarePlan/{care['CarePlan']['id']}").json()
    assert {"reference": f"Observation/{r.json()['id']}"} in plan["supportingInfo"]
    summary, _ = _themes(client, care["mother"])
    assert summary["assessed"] == 0


# --- goals --------------------------------------------------------------------------------------


def test_a_goal_is_listed_in_the_care_plan_once_and_searchable(
    client: TestClient, care: dict[str, Any]
) -> None:
    mother, plan_id = care["mother"], care["CarePlan"]["id"]
    assessment = _post(
        client, "/Observation", _assessment(mother, "financiele-stabiliteit", "concern", "2026-03-10", "a5")
    ).json()
    body = _goal(
        mother,
        "financiele-stabiliteit",
        "attention-needed",
        "g1",
        addresses=f"Observation/{assessment['id']}",
    )
    r = _post(client, "/Goal", body)
    assert r.status_code == 201, r.text
    goal = r.json()
    assert goal["meta"]["profile"][0].endswith("/voorzorg-theme-goal")
    plan = client.get(f"/CarePlan/{plan_id}").json()
    assert plan["goal"] == [{"reference": f"Goal/{goal['id']}"}]
    assert len(plan["activity"]) == len(care["CarePlan"]["activity"])  # the visits stay as they were
    again = _post(client, "/Goal", body)
    assert again.status_code == 200 and again.json()["id"] == goal["id"]
    assert client.get(f"/CarePlan/{plan_id}").json()["goal"] == [{"reference": f"Goal/{goal['id']}"}]
    assert _ids(client, f"/CarePlan?goal=Goal/{goal['id']}") == [plan_id]
    query = (
        f"/Goal?patient={mother}&category={THEME}|financiele-stabiliteit&lifecycle-status=active"
        f"&achievement-status={ACHIEVEMENT}|in-progress&target-date=le2026-08-01"
    )
    assert _ids(client, query) == [goal["id"]]
    assert _total(client, f"/Goal?patient={mother}&category={THEME}|veiligheid") == 0


def test_a_second_goal_is_appended_after_the_first(client: TestClient, care: dict[str, Any]) -> None:
    mother = care["mother"]
    one = _post(client, "/Goal", _goal(mother, "financiele-stabiliteit", "attention-needed", "g1")).json()
    two = _post(client, "/Goal", _goal(mother, "veiligheid", "no-concern", "g2")).json()
    plan = client.get(f"/CarePlan/{care['CarePlan']['id']}").json()
    assert plan["goal"] == [{"reference": f"Goal/{one['id']}"}, {"reference": f"Goal/{two['id']}"}]


def _goal_bad_theme(g: dict[str, Any]) -> None:
    g["category"][0]["coding"][0]["code"] = "slaap"


def _goal_bad_target(g: dict[str, Any]) -> None:
    g["target"][0]["detailCodeableConcept"]["coding"][0]["code"] = "panic"


def _goal_other_theme_as_measure(g: dict[str, Any]) -> None:
    g["target"][0]["measure"]["coding"][0]["code"] = "hechting"


def _goal_bad_achievement(g: dict[str, Any]) -> None:
    g["achievementStatus"]["coding"][0]["code"] = "done"


def _goal_no_subject(g: dict[str, Any]) -> None:
    del g["subject"]


@pytest.mark.parametrize(
    ("mutate", "status", "expression"),
    [
        (_goal_bad_theme, 422, "Goal.category[0]"),
        (_goal_bad_target, 422, "Goal.target[0].detailCodeableConcept"),
        (_goal_other_theme_as_measure, 422, "Goal"),  # invariant vz-goal-1 on the Goal
        (_goal_bad_achievement, 422, "Goal.achievementStatus"),
        (_goal_no_subject, 400, "Goal.subject"),  # 1..1 in R4 itself: a structural error
    ],
    ids=[
        "unknown theme",
        "unknown target level",
        "target of another theme",
        "unknown achievement",
        "no subject",
    ],
)
def test_a_goal_that_does_not_fit_is_refused_naming_the_element_and_the_plan_is_unchanged(
    client: TestClient, care: dict[str, Any], mutate: Any, status: int, expression: str
) -> None:
    plan_url = f"/CarePlan/{care['CarePlan']['id']}"
    version = client.get(plan_url).json()["meta"]["versionId"]
    body = _goal(care["mother"], "veiligheid", "no-concern", "bad")
    mutate(body)
    r = _post(client, "/Goal", body)
    assert r.status_code == status, r.text
    assert expression in [x for i in r.json()["issue"] for x in i.get("expression", [])], r.text
    assert _total(client, "/Goal") == 0
    plan = client.get(plan_url).json()
    assert "goal" not in plan and plan["meta"]["versionId"] == version


def test_goal_progress_is_a_put_with_if_match(client: TestClient, care: dict[str, Any]) -> None:
    mother = care["mother"]
    goal = _post(client, "/Goal", _goal(mother, "veiligheid", "no-concern", "g3")).json()
    body = {k: v for k, v in goal.items() if k != "meta"}
    body["achievementStatus"] = {"coding": [{"system": ACHIEVEMENT, "code": "improving"}]}
    headers = {**FHIR_JSON_HEADERS, "If-Match": 'W/"1"'}
    r = client.put(f"/Goal/{goal['id']}", content=json.dumps(body), headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["etag"] == 'W/"2"' and r.json()["achievementStatus"]["coding"][0]["code"] == "improving"
    stale = client.put(
        f"/Goal/{goal['id']}", content=json.dumps({**body, "lifecycleStatus": "completed"}), headers=headers
    )
    assert stale.status_code == 412
    assert _ids(client, f"/Goal?achievement-status=improving&patient={mother}") == [goal["id"]]
    assert client.get(f"/Goal/{goal['id']}/_history").json()["total"] == 2
    plan = client.get(f"/CarePlan/{care['CarePlan']['id']}").json()
    assert plan["goal"] == [{"reference": f"Goal/{goal['id']}"}]


def test_a_goal_keeps_its_client_and_theme_and_takes_no_unknown_status(
    client: TestClient, care: dict[str, Any]
) -> None:
    goal = _post(client, "/Goal", _goal(care["mother"], "veiligheid", "no-concern", "g4")).json()
    body = {k: v for k, v in goal.items() if k != "meta"}

    def put(changed: dict[str, Any]) -> Response:
        headers = {**FHIR_JSON_HEADERS, "If-Match": 'W/"1"'}
        return client.put(f"/Goal/{goal['id']}", content=json.dumps(changed), headers=headers)

    moved = put({**body, "subject": {"reference": "Patient/someone-else"}})
    assert moved.status_code == 422 and moved.json()["issue"][0]["expression"] == ["Goal.subject"]
    other = json.loads(json.dumps(body))
    other["category"][0]["coding"][0]["code"] = "hechting"
    other["target"][0]["measure"]["coding"][0]["code"] = "hechting"
    assert put(other).json()["issue"][0]["expression"] == ["Goal.category[0]"]
    bogus = {**body, "achievementStatus": {"coding": [{"system": ACHIEVEMENT, "code": "done"}]}}
    assert put(bogus).json()["issue"][0]["expression"] == ["Goal.achievementStatus"]
    assert put({**body, "id": "another"}).status_code == 400
    assert (
        client.put(
            "/Goal/unknown",
            content=json.dumps({**body, "id": "unknown"}),
            headers={**FHIR_JSON_HEADERS, "If-Match": 'W/"1"'},
        ).status_code
        == 404
    )
    assert client.get(f"/Goal/{goal['id']}").json()["meta"]["versionId"] == "1"


def test_a_task_update_still_runs_its_state_machine(client: TestClient, referral: dict[str, Any]) -> None:
    out = _intake(client, referral)
    task = {k: v for k, v in out["Task"].items() if k != "meta"}
    r = client.put(
        f"/Task/{task['id']}",
        content=json.dumps({**task, "status": "draft"}),
        headers={**FHIR_JSON_HEADERS, "If-Match": f'W/"{out["Task"]["meta"]["versionId"]}"'},
    )
    out = refusal(r, 409)
    assert [i["expression"] for i in out["issue"]] == [["Task.status"]], out
    assert client.get(f"/Task/{task['id']}").json()["status"] == task["status"]  # unchanged


# --- the themes at a glance ---------------------------------------------------------------------


def _child(mother: str) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "name": [{"family": "Jansen", "given": ["Noor"]}],
        "birthDate": "2026-08-20",
        "link": [{"other": {"reference": mother}, "type": "seealso"}],
    }


def test_themes_shows_latest_trend_since_intake_and_goals_per_theme(
    client: TestClient, care: dict[str, Any]
) -> None:
    mother, visit = care["mother"], f"Encounter/{care['Encounter']['id']}"
    recorded = [
        ("financiele-stabiliteit", "concern", "2026-03-10T10:30:00+01:00", visit),
        ("financiele-stabiliteit", "acute-concern", "2026-04-07T10:30:00+02:00", None),
        ("financiele-stabiliteit", "attention-needed", "2026-06-02T10:30:00+02:00", None),
        ("veiligheid", "attention-needed", "2026-03-10T10:35:00+01:00", visit),
        ("veiligheid", "concern", "2026-06-02T10:35:00+02:00", None),
        ("gezondheid", "no-concern", "2026-03-10T10:40:00+01:00", visit),
        ("ouderschap", "attention-needed", "2026-03-10T10:45:00+01:00", visit),
        ("ouderschap", "attention-needed", "2026-06-02T10:45:00+02:00", None),
    ]
    obs = {}
    for n, (theme, level, when, enc) in enumerate(recorded):
        r = _post(client, "/Observation", _assessment(mother, theme, level, when, f"t{n}", enc))
        assert r.status_code == 201, r.text
        obs[n] = r.json()["id"]
    # withdrawn: entered in error, so no assessment at all
    _post(
        client,
        "/Observation",
        _assessment(mother, "hechting", "acute-concern", "2026-06-02", "t-err", None, "entered-in-error"),
    )
    money = _post(client, "/Goal", _goal(mother, "financiele-stabiliteit", "attention-needed", "g5")).json()
    safety = _post(client, "/Goal", _goal(mother, "veiligheid", "no-concern", "g6")).json()
    child = _post(client, "/Patient", _child(mother))
    assert child.status_code == 201, child.text
    noor = f"Patient/{child.json()['id']}"
    assert (
        _post(
            client, "/Observation", _assessment(noor, "gezondheid", "attention-needed", "2026-09-01", "c1")
        ).status_code
        == 201
    )

    summary, themes = _themes(client, mother)
    assert [(t["subject"]["reference"], t["code"]["code"]) for t in themes] == [
        *((mother, code) for code in (
            "ouderschap", "hechting", "opvoedvaardigheden", "gezondheid", "veiligheid",
            "persoonlijke-ontwikkeling", "financiele-stabiliteit", "relatie-partner-familie",
            "gemeenschapsvoorzieningen",
        )),
        (noor, "gezondheid"),
    ]  # fmt: skip
    by = {(t["subject"]["reference"], t["code"]["code"]): t for t in themes}
    fin = by[(mother, "financiele-stabiliteit")]
    assert fin["code"]["display"] == "Financiële stabiliteit"
    assert (fin["latest"]["code"], fin["baseline"]["code"], fin["assessments"]) == (
        "attention-needed",
        "concern",
        3,
    )
    assert fin["latestAssessment"] == {"reference": f"Observation/{obs[2]}"}
    assert fin["baselineAssessment"] == {"reference": f"Observation/{obs[0]}"}
    assert fin["latestDate"] == "2026-06-02T08:30:00Z"
    assert (fin["trend"]["system"], fin["trend"]["code"], fin["trend"]["display"]) == (
        TREND,
        "improved",
        "Verbeterd",
    )
    assert fin["change"] == -1
    [g] = fin["goal"]
    assert g["reference"] == {"reference": f"Goal/{money['id']}"}
    assert (g["target"]["code"], g["due"], g["targetMet"], g["achievementStatus"]["code"]) == (
        "attention-needed", "2026-08-01", True, "in-progress",
    )  # fmt: skip
    safe = by[(mother, "veiligheid")]
    assert (safe["trend"]["code"], safe["change"]) == ("worsened", 1)
    assert (
        safe["goal"][0]["reference"] == {"reference": f"Goal/{safety['id']}"}
        and safe["goal"][0]["targetMet"] is False
    )
    assert by[(mother, "ouderschap")]["trend"]["code"] == "unchanged"
    health = by[(mother, "gezondheid")]
    assert (health["trend"]["code"], health["assessments"], "baseline" in health) == (
        "baseline-only",
        1,
        False,
    )
    assert by[(mother, "hechting")] == {
        "code": by[(mother, "hechting")]["code"],
        "subject": {"reference": mother},
        "assessments": 0,
    }
    assert by[(noor, "gezondheid")]["latest"]["code"] == "attention-needed"
    assert summary == {
        "assessed": 5, "notAssessed": 5, "improved": 1, "unchanged": 1, "worsened": 1, "baseline-only": 2,
        "goals": 2, "goalsTargetMet": 1,
    }  # fmt: skip
    assert client.get(f"/{mother}/$themes?date=2026-06-01").status_code == 400
    assert client.get("/Patient/unknown/$themes").status_code == 404


def test_the_capability_statement_announces_themes(client: TestClient) -> None:
    cs = client.get("/metadata").json()
    patient = next(r for r in cs["rest"][0]["resource"] if r["type"] == "Patient")
    [themes] = [o for o in patient["operation"] if o["name"] == "themes"]
    definition = client.get("/OperationDefinition/patient-themes").json()
    assert themes["definition"] == definition["url"] and definition["code"] == "themes"
    goal = next(r for r in cs["rest"][0]["resource"] if r["type"] == "Goal")
    assert {"create", "update"} <= {i["code"] for i in goal["interaction"]}
    assert {"patient", "category", "lifecycle-status", "achievement-status", "target-date"} <= {
        p["name"] for p in goal["searchParam"]
    }


# --- who may see and record them, and the audit ---------------------------------------------------


def test_the_referring_practice_cannot_read_or_record_themes_and_every_attempt_is_audited(
    app: FastAPI, settings: Settings, store: Store, client: TestClient, care: dict[str, Any]
) -> None:
    mother = care["mother"]
    obs = _post(
        client, "/Observation", _assessment(mother, "veiligheid", "concern", "2026-03-10", "s1")
    ).json()
    goal = _post(client, "/Goal", _goal(mother, "veiligheid", "no-concern", "s2")).json()
    practice = obstetric(app, settings, ORG_A)
    assert practice.get(f"/{mother}").status_code == 200  # she sees her own referral's client ...
    assert practice.get(f"/Observation/{obs['id']}").status_code == 404  # ... but not the nurse's assessment
    assert practice.get(f"/Observation?code={THEME}|veiligheid").json()["total"] == 0
    assert (
        practice.get(f"/Observation?patient={mother}").json()["total"] >= 1
    )  # her own referral's Observations
    assert obs["id"] not in [
        e["resource"]["id"] for e in practice.get(f"/Observation?patient={mother}").json()["entry"]
    ]
    assert practice.get(f"/Goal/{goal['id']}").status_code == 403
    assert practice.get(f"/{mother}/$themes").status_code == 403
    refused = _post(
        practice, "/Observation", _assessment(mother, "veiligheid", "no-concern", "2026-03-11", "s3")
    )
    assert refused.status_code == 403
    assert _post(practice, "/Goal", _goal(mother, "veiligheid", "no-concern", "s4")).status_code == 403
    consult = client_as(app, settings, role="consult", organization=None, client_id="voorzorg-consult")
    assert consult.get(f"/Observation/{obs['id']}").status_code == 403
    assert consult.get(f"/{mother}/$themes").status_code == 403
    assert _total(client, f"/Observation?code={THEME}|veiligheid") == 1
    read = [e for e in events_at(store, f"GET /Observation/{obs['id']}") if e["outcome"] == REFUSED]
    assert len(read) == 2  # the practice (404) and the consult team (403)
    assert last_at(store, "POST /Observation")["outcome"] == REFUSED
    assert last_at(store, f"GET /{mother}/$themes")["outcome"] == REFUSED


def test_recording_and_viewing_themes_is_audited_with_the_client(
    store: Store, client: TestClient, care: dict[str, Any]
) -> None:
    mother = care["mother"]
    obs = _post(
        client, "/Observation", _assessment(mother, "veiligheid", "concern", "2026-03-10", "u1")
    ).json()
    goal = _post(client, "/Goal", _goal(mother, "veiligheid", "no-concern", "u2")).json()
    created = last_at(store, "POST /Observation")
    assert (interaction(created), created["outcome"]) == ("create", SUCCESS)
    assert patients(created) == [mother] and f"Observation/{obs['id']}" in entities(created)
    linked = last_at(store, "POST /Goal")
    assert patients(linked) == [mother]
    assert {f"Goal/{goal['id']}", f"CarePlan/{care['CarePlan']['id']}"} <= set(entities(linked))
    client.put(
        f"/Goal/{goal['id']}",
        content=json.dumps(
            {**{k: v for k, v in goal.items() if k != "meta"}, "lifecycleStatus": "completed"}
        ),
        headers={**FHIR_JSON_HEADERS, "If-Match": 'W/"1"'},
    )
    updated = last_at(store, f"PUT /Goal/{goal['id']}")
    assert (interaction(updated), updated["outcome"], patients(updated)) == ("update", SUCCESS, [mother])
    _themes(client, mother)
    viewed = last_at(store, f"GET /{mother}/$themes")
    assert (interaction(viewed), viewed["outcome"], patients(viewed)) == ("operation", SUCCESS, [mother])
    assert {mother, f"Observation/{obs['id']}", f"Goal/{goal['id']}"} <= set(entities(viewed))
