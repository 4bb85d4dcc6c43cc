"""The intake visit (issue #22, domain page §2 and §7), on SQLite and PostgreSQL: the nurse's first home
visit and its findings outrank the referrer's report and decide again with the same rules, in one
transaction — the decision, the referral Task, the care plan, a consult request where the rules say so —
and she is enrolled on the date of the visit when she says yes and the track runs.

The example referral: first child, referred 2026-03-02 at 14+0 weeks (EDD 2026-08-31), aged 21: VoorZorg.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.helpers import FF, PARITY, SPP, drop, params, path_status, resource, set_bool, task_track
from tests.path_helpers import code_of, extension, intake, intake_visit, parts, phases, post_json, versions

VISIT_DAY = "2026-03-09"


def _visit(
    client: TestClient, out: dict[str, dict[str, Any]], **findings: Any
) -> dict[str, list[dict[str, Any]]]:
    patient = f"Patient/{out['Patient']['id']}"
    r = post_json(
        client,
        f"/ServiceRequest/{out['ServiceRequest']['id']}/$intake-visit",
        intake_visit(patient, VISIT_DAY, **findings),
    )
    assert r.status_code == 200, r.text
    return parts(r.json())


def _decision(done: dict[str, list[dict[str, Any]]]) -> dict[str, list[Any]]:
    return params(done["decision"][0]["contained"][0])


def test_her_yes_enrols_her_on_the_date_of_the_visit(client: TestClient, referral: dict[str, Any]) -> None:
    drop(referral, FF)  # as obstetric systems send it: no forced framework reported
    out = intake(client, referral)
    before = client.get(
        "/EpisodeOfCare",
        params={
            "patient": f"Patient/{out['Patient']['id']}",
            "type": "https://fhir.voorzorg.nl/CodeSystem/voorzorg-referral-item|voorzorg-programme",
        },
    ).json()
    assert before["total"] == 1 and before["entry"][0]["resource"]["status"] == "planned"
    assert path_status(out["Task"]) == "intake-planned"

    done = _visit(client, out, takes_part=True, forced_framework=False)
    programme, task, plan = done["programme"][0], done["referralTask"][0], done["carePlan"][0]
    assert programme["status"] == "active" and programme["period"] == {"start": VISIT_DAY}
    assert [(h["status"], h["period"]) for h in programme["statusHistory"]] == [
        ("planned", {"start": "2026-03-02", "end": VISIT_DAY}),
        ("active", {"start": VISIT_DAY}),
    ]
    assert extension(programme, "gestational-age-at-enrolment")[0]["valueInteger"] == 105  # 98 + 7 days
    assert code_of(programme["type"][1]) == "voorzorg"
    assert phases(programme) == [
        ("pregnancy", VISIT_DAY, "2026-08-30"),
        ("infancy", "2026-08-31", "2027-08-30"),
        ("toddler", "2027-08-31", "2028-08-30"),
    ]
    assert (task["status"], path_status(task)) == ("in-progress", "enrolled")
    first = plan["activity"][0]
    assert first["detail"]["status"] == "completed"  # the intake visit is the plan's first visit
    assert first["outcomeReference"] == [{"reference": f"Encounter/{done['visit'][0]['id']}"}]
    # the forced framework is confirmed: nothing is left to confirm, and the finding points to the visit
    assert "confirmAtIntake" not in _decision(done)
    [ff] = [f for f in done["finding"] if code_of(f["code"]) == "forced-framework"]
    assert ff["encounter"] == {"reference": f"Encounter/{done['visit'][0]['id']}"}
    assert ff["basedOn"] == [{"reference": f"ServiceRequest/{out['ServiceRequest']['id']}"}]


def test_recording_the_visit_again_changes_nothing(client: TestClient, referral: dict[str, Any]) -> None:
    out = intake(client, referral)
    done = _visit(client, out, takes_part=True)
    refs = [
        f"EpisodeOfCare/{done['programme'][0]['id']}",
        f"Task/{out['Task']['id']}",
        f"CarePlan/{out['CarePlan']['id']}",
        f"GuidanceResponse/{out['GuidanceResponse']['id']}",
    ]
    seen = versions(client, *refs)
    _visit(client, out, takes_part=True)
    assert versions(client, *refs) == seen


# --- each finding decides again -----------------------------------------------------------------------


def test_a_forced_framework_found_goes_to_consult_and_waits(
    client: TestClient, referral: dict[str, Any]
) -> None:
    drop(referral, FF)
    out = intake(client, referral)
    assert out["Task"]["status"] == "accepted"
    done = _visit(client, out, takes_part=True, forced_framework=True)
    d = _decision(done)
    assert code_of({"coding": d["track"]}) == "consult" and [r["code"] for r in d["reason"]] == [
        "forced-framework"
    ]
    task = done["referralTask"][0]
    assert (task["status"], path_status(task)) == ("on-hold", "consult-pending")
    assert done["carePlan"][0]["status"] == "on-hold"
    [consult] = done["consult"]
    assert consult["status"] == "requested" and consult["owner"]
    assert done["programme"][0]["status"] == "planned"  # not enrolled while the consult runs


def test_not_voluntary_goes_to_consult(client: TestClient, referral: dict[str, Any]) -> None:
    out = intake(client, referral)
    done = _visit(client, out, takes_part=True, voluntary=False)
    assert _decision(done)["track"][0]["code"] == "consult"
    assert path_status(done["referralTask"][0]) == "consult-pending"


def test_serious_parenting_problems_found_make_it_voorzorg_2(
    client: TestClient, referral: dict[str, Any]
) -> None:
    resource(referral, PARITY)["valueInteger"] = 1  # earlier children, no problems reported: consult
    out = intake(client, referral)
    assert task_track(out["Task"]) == "consult" and out["Task"]["status"] == "on-hold"
    done = _visit(client, out, takes_part=True, serious_parenting_problems=True)
    assert _decision(done)["track"][0]["code"] == "voorzorg-2"
    task = done["referralTask"][0]
    assert (task["status"], path_status(task), task_track(task)) == ("in-progress", "enrolled", "voorzorg-2")
    assert done["carePlan"][0]["status"] == "active"
    assert done["programme"][0]["status"] == "active"
    assert [c["status"] for c in done["consult"]] == ["cancelled"]  # the question is no longer needed


def test_no_serious_parenting_problems_found_goes_to_consult(
    client: TestClient, referral: dict[str, Any]
) -> None:
    resource(referral, PARITY)["valueInteger"] = 1
    set_bool(referral, SPP, True)  # VoorZorg 2 on the referral
    out = intake(client, referral)
    assert task_track(out["Task"]) == "voorzorg-2"
    done = _visit(client, out, takes_part=True, serious_parenting_problems=False)
    assert [r["code"] for r in _decision(done)["reason"]] == ["outside-criteria"]


def test_parity_corrected_to_a_first_child_makes_it_voorzorg(
    client: TestClient, referral: dict[str, Any]
) -> None:
    resource(referral, PARITY)["valueInteger"] = 1
    out = intake(client, referral)
    done = _visit(client, out, takes_part=True, parity=0)
    assert _decision(done)["track"][0]["code"] == "voorzorg"
    assert done["programme"][0]["status"] == "active"


def test_a_later_dating_makes_it_late_start_and_the_plan_follows(
    client: TestClient, referral: dict[str, Any]
) -> None:
    out = intake(client, referral)
    assert out["CarePlan"]["title"].endswith("(VoorZorg)")
    # the ultrasound says 30+0 weeks on the referral date: EDD 2026-03-02 + 70 days
    done = _visit(client, out, takes_part=True, edd="2026-05-11")
    d = _decision(done)
    assert d["track"][0]["code"] == "late-start" and d["gestationalAgeDays"] == [210]
    plan = done["carePlan"][0]
    assert plan["id"] == out["CarePlan"]["id"] and "Late Start" in plan["title"]
    programme = done["programme"][0]
    assert extension(programme, "gestational-age-at-enrolment")[0]["valueInteger"] == 217
    assert phases(programme)[0] == ("pregnancy", VISIT_DAY, "2026-05-10")


def test_a_dating_in_weeks_is_projected_from_the_visit(client: TestClient, referral: dict[str, Any]) -> None:
    out = intake(client, referral)
    done = _visit(client, out, takes_part=True, duration_weeks=16)  # 16+0 on 2026-03-09: 15+0 on the referral
    assert _decision(done)["gestationalAgeDays"] == [105]


def test_her_no_ends_the_programme_before_it_started(client: TestClient, referral: dict[str, Any]) -> None:
    out = intake(client, referral)
    done = _visit(client, out, takes_part=False)
    programme, task, plan = done["programme"][0], done["referralTask"][0], done["carePlan"][0]
    assert programme["status"] == "cancelled" and programme["period"] == {"end": VISIT_DAY}
    assert code_of(extension(programme, "ending-reason")[0]["valueCodeableConcept"]) == "client-choice"
    assert (task["status"], path_status(task)) == ("completed", "ended")
    assert code_of(task["statusReason"]) == "client-choice"
    assert plan["status"] == "revoked"
    assert {a["detail"]["status"] for a in plan["activity"]} == {"cancelled"}


def test_a_resend_after_the_visit_keeps_what_the_nurse_found(
    client: TestClient, referral: dict[str, Any]
) -> None:
    drop(referral, FF)
    out = intake(client, referral)
    _visit(client, out, takes_part=True, forced_framework=True)
    again = intake(client, referral)  # the referrer still reports no forced framework
    assert again["Task"]["status"] == "on-hold" and task_track(again["Task"]) == "consult"
    assert params(again["GuidanceResponse"]["contained"][0])["reason"][0]["code"] == "forced-framework"


def test_a_resend_after_enrolment_keeps_her_enrolled(client: TestClient, referral: dict[str, Any]) -> None:
    out = intake(client, referral)
    _visit(client, out, takes_part=True)
    again = intake(client, referral)
    assert again["Task"]["status"] == "in-progress" and path_status(again["Task"]) == "enrolled"
    assert "CarePlan" not in again  # a plan with recorded visits is not made again
    assert client.get(f"/CarePlan/{out['CarePlan']['id']}").json()["status"] == "active"


# --- bad input: 4xx naming the element, nothing stored ------------------------------------------------


def _other_client(client: TestClient, referral: dict[str, Any]) -> dict[str, dict[str, Any]]:
    from tests.exchange.helpers import fresh

    other, _ = fresh(referral)
    return intake(client, other)


def test_an_intake_visit_for_a_referral_that_is_not_hers_is_refused(
    client: TestClient, referral: dict[str, Any]
) -> None:
    out = intake(client, referral)
    theirs = _other_client(client, referral)
    refs = [f"Task/{out['Task']['id']}", f"CarePlan/{out['CarePlan']['id']}"]
    seen = versions(client, *refs)
    body = intake_visit(f"Patient/{theirs['Patient']['id']}", VISIT_DAY, takes_part=True)
    r = post_json(client, f"/ServiceRequest/{out['ServiceRequest']['id']}/$intake-visit", body)
    assert r.status_code == 422, r.text
    expressions = [x for i in r.json()["issue"] for x in i.get("expression", [])]
    assert expressions == [
        "Parameters.parameter[0].resource.subject",
        "Parameters.parameter[1].resource.subject",
    ]
    assert versions(client, *refs) == seen
    assert (
        client.get("/Encounter", params={"patient": f"Patient/{theirs['Patient']['id']}"}).json()["total"]
        == 0
    )


@pytest.mark.parametrize(
    ("change", "status", "expression"),
    [
        (lambda b: b.update(resourceType="Bundle"), 400, "resourceType"),
        (
            lambda b: b["parameter"][0]["resource"].update(status="planned"),
            422,
            "Parameters.parameter[0].resource.status",
        ),
        (
            lambda b: b["parameter"][0]["resource"].pop("period"),
            422,
            "Parameters.parameter[0].resource.period",
        ),
        (
            lambda b: b["parameter"][1]["resource"]["code"]["coding"][0].update(
                code="very-vulnerable-situation"
            ),
            422,
            "Parameters.parameter[1].resource.code",
        ),
        (lambda b: b["parameter"][1]["resource"].update(valueBoolean="yes"), 400, None),
        (
            lambda b: b["parameter"][1]["resource"].update(encounter={"reference": "Encounter/other"}),
            422,
            "Parameters.parameter[1].resource.encounter",
        ),
    ],
    ids=[
        "not-parameters",
        "visit-not-finished",
        "visit-without-date",
        "not-a-finding",
        "not-a-boolean",
        "another-visit",
    ],
)
def test_a_malformed_intake_visit_is_refused_naming_the_element(
    client: TestClient, referral: dict[str, Any], change: Any, status: int, expression: str | None
) -> None:
    out = intake(client, referral)
    body = intake_visit(f"Patient/{out['Patient']['id']}", VISIT_DAY, takes_part=True)
    change(body)
    r = post_json(client, f"/ServiceRequest/{out['ServiceRequest']['id']}/$intake-visit", body)
    assert r.status_code == status, r.text
    if expression:
        assert expression in [x for i in r.json()["issue"] for x in i.get("expression", [])], r.text
    assert (
        client.get("/Encounter", params={"patient": f"Patient/{out['Patient']['id']}"}).json()["total"] == 0
    )


def test_an_intake_visit_for_an_unknown_referral_is_404(client: TestClient, referral: dict[str, Any]) -> None:
    out = intake(client, referral)
    body = intake_visit(f"Patient/{out['Patient']['id']}", VISIT_DAY, takes_part=True)
    assert post_json(client, "/ServiceRequest/no-such-referral/$intake-visit", body).status_code == 404


def test_an_intake_visit_after_the_programme_ended_is_409(
    client: TestClient, referral: dict[str, Any]
) -> None:
    out = intake(client, referral)
    _visit(client, out, takes_part=False)
    body = intake_visit(f"Patient/{out['Patient']['id']}", VISIT_DAY, takes_part=True)
    r = post_json(client, f"/ServiceRequest/{out['ServiceRequest']['id']}/$intake-visit", body)
    assert r.status_code == 409 and r.json()["issue"][0]["expression"] == ["EpisodeOfCare.status"]
