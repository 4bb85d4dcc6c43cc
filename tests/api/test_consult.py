"""The VoorZorg Consult round trip through HTTP, for each consult reason: intake makes the request,
VoorZorg Consult (role `consult`) accepts it and completes it with its advice, the JGZ accepts the
advice, and the referral's decision, Task and care plan follow. The consult team sees only consult
requests, and nothing in them names the client."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from adapter.api.app import create_app
from adapter.config import Settings
from adapter.fhir.validator import has_errors, validate
from adapter.mapping.careplan_out import KIND_EXT, activity_date
from adapter.mapping.ids import consult_ids, referral_task_id
from adapter.store.engine import Store
from tests.api.helpers import EDD, FF, PARITY, PATIENT, SPP, resource, set_bool
from tests.conftest import FHIR_JSON_HEADERS, bearer

ITEM = "https://fhir.voorzorg.nl/CodeSystem/voorzorg-referral-item"
CONSULT_ITEM = "https://fhir.voorzorg.nl/CodeSystem/voorzorg-consult-item"
ADVICE = "https://fhir.voorzorg.nl/CodeSystem/voorzorg-consult-advice"
REASON = "https://fhir.voorzorg.nl/CodeSystem/voorzorg-decision-reason"
CONSULT_CODE = f"{ITEM}|voorzorg-consult-request"
CONSULT_ORG = "http://fhir.nl/fhir/NamingSystem/ura|00000001"
OTHER_CONSULT_ORG = "http://fhir.nl/fhir/NamingSystem/ura|00000002"  # a consult team not asked
# What identifies the example client (examples/referral.json), in any form it could leak.
IDENTITY = ("999911120", "Jansen", "Sanne", "2004-05-17", "17-05-2004", "2026-08-31")
IDENTITY_KEYS = {"birthDate", "address", "telecom", "name", "identifier"}


# --- the cases: one referral per consult reason, and the advice VoorZorg Consult gives -----------------
def _forced_framework(b: dict[str, Any]) -> None:
    set_bool(b, FF, True)


def _forced_framework_consult(world: World, referral: dict[str, Any]) -> dict[str, Any]:
    """Take in a referral with a (felt) forced framework: the consult Task intake made for it."""
    _forced_framework(referral)
    return the_consult(world.jgz, intake(world.jgz, referral)["ServiceRequest"]["id"])


def _late_start(b: dict[str, Any]) -> None:
    resource(b, EDD)["valueDateTime"] = "2026-05-25"  # 28+0 at the referral date 2026-03-02


def _late_start_plus_2(b: dict[str, Any]) -> None:
    _late_start(b)
    resource(b, PARITY)["valueInteger"] = 1
    set_bool(b, SPP, True)


def _outside_criteria(b: dict[str, Any]) -> None:
    resource(b, PARITY)["valueInteger"] = 1  # earlier children, no serious parenting problems


@dataclass(frozen=True)
class Case:
    reason: str
    edit: Callable[[dict[str, Any]], None]
    advice: str
    track: str  # of the decision after the advice is accepted
    task_status: str  # of the referral Task after the advice is accepted
    moments: tuple[str, ...] = ()
    trained: frozenset[str] = field(default=frozenset({"voorzorg-2", "late-start"}))
    evidence: str | None = None
    plan: str | None = None  # the PlanDefinition the care plan instantiates; None: no active plan
    decided: str = "consult"  # the track intake decided


CASES = [
    Case(
        "forced-framework",
        _forced_framework,
        "start-voorzorg-with-evaluation-moments",
        "voorzorg",
        "accepted",
        moments=("2026-05-04", "2026-07-06"),
        plan="voorzorg",
    ),
    Case(
        "late-start-plus-2",
        _late_start_plus_2,
        "pretest-late-start-plus-2",
        "late-start",
        "accepted",
        plan="late-start",
    ),
    Case("outside-criteria", _outside_criteria, "not-voorzorg", "not-eligible", "rejected"),
    Case(
        "nurse-not-trained",
        _late_start,
        "start-late-start",
        "late-start",
        "accepted",
        trained=frozenset(),
        evidence="under-research",
        plan="late-start",
        decided="late-start",
    ),
]


@dataclass
class World:
    """The JGZ, VoorZorg Consult and the referring practice, on one app."""

    jgz: TestClient
    consult: TestClient
    other_consult: TestClient  # role consult, but of another organisation than the one asked
    obstetric: TestClient
    privacy: TestClient  # the privacy officer: reads the audit log (NEN 7513)
    store: Store
    as_: Callable[..., TestClient]  # another client of the same app (`bearer` arguments)


@pytest.fixture
def world_for(store: Store, tmp_path: Path) -> Iterator[Callable[[frozenset[str]], World]]:
    made: list[TestClient] = []

    def make(trained: frozenset[str] = frozenset({"voorzorg-2", "late-start"})) -> World:
        settings = Settings(data_dir=tmp_path, base_url="http://testserver", trained_modules=trained)
        app: FastAPI = create_app(settings, store)

        def as_(**token: Any) -> TestClient:
            c = TestClient(app, headers=bearer(settings, **token), raise_server_exceptions=False)
            made.append(c)
            return c

        return World(
            jgz=as_(),
            consult=as_(
                role="consult",
                scope="system/Task.rus system/ServiceRequest.rs",
                organization=CONSULT_ORG,
                client_id="voorzorg-consult",
            ),
            other_consult=as_(
                role="consult",
                scope="system/Task.rus system/ServiceRequest.rs",
                organization=OTHER_CONSULT_ORG,
                client_id="another-consult-team",
            ),
            obstetric=as_(
                role="obstetric",
                scope="system/*.cruds",
                organization="http://fhir.nl/fhir/NamingSystem/agb-z|09012345",
                client_id="de-wieg",
            ),
            privacy=as_(
                role="privacy-officer",
                scope="system/AuditEvent.rs",
                organization=None,
                client_id="privacy-officer",
            ),
            store=store,
            as_=as_,
        )

    yield make
    for c in made:
        c.close()


@pytest.fixture
def world(world_for: Callable[[frozenset[str]], World]) -> World:
    return world_for(frozenset({"voorzorg-2", "late-start"}))


# --- helpers ----------------------------------------------------------------------------------------
def _post(c: TestClient, path: str, body: Any = None) -> Any:
    return c.post(path, content=json.dumps(body) if body is not None else b"", headers=FHIR_JSON_HEADERS)


def intake(c: TestClient, bundle: dict[str, Any]) -> dict[str, dict[str, Any]]:
    r = _post(c, "/", bundle)
    assert r.status_code == 200, r.text
    return {e["resource"]["resourceType"]: e["resource"] for e in r.json()["entry"]}


def consults(c: TestClient, referral_id: str) -> list[dict[str, Any]]:
    r = c.get(f"/Task?based-on=ServiceRequest/{referral_id}&code={CONSULT_CODE}&_count=100")
    assert r.status_code == 200, r.text
    return [e["resource"] for e in r.json().get("entry", [])]


def the_consult(c: TestClient, referral_id: str) -> dict[str, Any]:
    found = consults(c, referral_id)
    assert len(found) == 1, found
    return found[0]


def put_task(c: TestClient, task: dict[str, Any], **changes: Any) -> Any:
    body = {**task, **changes}
    version = task["meta"]["versionId"]
    return c.put(
        f"/Task/{task['id']}",
        content=json.dumps(body),
        headers={**FHIR_JSON_HEADERS, "If-Match": f'W/"{version}"'},
    )


def advice_output(code: str, moments: tuple[str, ...] = (), text: str | None = None) -> list[dict[str, Any]]:
    value: dict[str, Any] = {"coding": [{"system": ADVICE, "code": code}]}
    if text:
        value["text"] = text
    out: list[dict[str, Any]] = [
        {"type": {"coding": [{"system": CONSULT_ITEM, "code": "advice"}]}, "valueCodeableConcept": value}
    ]
    out += [
        {"type": {"coding": [{"system": CONSULT_ITEM, "code": "evaluation-moment"}]}, "valueDate": d}
        for d in moments
    ]
    return out


def answer(w: World, task: dict[str, Any], advice: str, moments: tuple[str, ...] = ()) -> dict[str, Any]:
    """VoorZorg Consult accepts the request, then completes it with its advice."""
    r = put_task(w.consult, task, status="accepted")
    assert r.status_code == 200, r.text
    r = put_task(
        w.consult, r.json(), status="completed", output=advice_output(advice, moments, "Advies op maat.")
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


def accept(c: TestClient, task_id: str) -> dict[str, Any]:
    r = _post(c, f"/Task/{task_id}/$accept-advice")
    assert r.status_code == 200, r.text
    return {p["name"]: p["resource"] for p in r.json()["parameter"]}


def _audit_events(w: World, site: str) -> list[dict[str, Any]]:
    """The AuditEvents of requests with this `METHOD /path`, as the privacy officer finds them, oldest
    first."""
    r = w.privacy.get("/AuditEvent?_count=500")
    assert r.status_code == 200, r.text
    found = [e["resource"] for e in r.json()["entry"] if e["resource"]["source"]["site"] == site]
    assert found, f"no AuditEvent for {site}"
    return list(reversed(found))


def _entities(event: dict[str, Any]) -> list[str]:
    return [e["what"]["reference"] for e in event.get("entity", []) if "what" in e]


def track_of(guidance: dict[str, Any]) -> str:
    return next(
        str(e["valueCoding"]["code"]) for e in guidance["extension"] if e["url"].endswith("/voorzorg-track")
    )


def evidence_of(guidance: dict[str, Any]) -> str | None:
    found = [
        e["valueCoding"]["code"] for e in guidance["extension"] if e["url"].endswith("/voorzorg-evidence")
    ]
    return str(found[0]) if found else None


def reason_codes(resource_: dict[str, Any], element: str = "reasonCode") -> set[str]:
    return {
        c["code"] for rc in resource_.get(element, []) for c in rc.get("coding", []) if c["system"] == REASON
    }


def walk(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield f"{path}.{k}", v
            yield from walk(v, f"{path}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from walk(v, f"{path}[{i}]")


def assert_anonymous(resource_: dict[str, Any]) -> None:
    """Nothing in what the consult team reads names the client."""
    text = json.dumps(resource_, ensure_ascii=False)
    for value in IDENTITY:
        assert value not in text, f"{value!r} leaks in {resource_['resourceType']}/{resource_.get('id')}"
    for path, _ in walk(resource_):
        key = path.rsplit(".", 1)[-1]
        if key in IDENTITY_KEYS:
            # The only identifiers are the organisations' (requester, owner, performer).
            assert key == "identifier" and (
                ".requester" in path or ".owner" in path or ".performer" in path
            ), path


# --- the round trip, per consult reason ---------------------------------------------------------------
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.reason)
def test_the_consult_round_trip(
    world_for: Callable[[frozenset[str]], World], referral: dict[str, Any], case: Case
) -> None:
    w = world_for(case.trained)
    case.edit(referral)
    out = intake(w.jgz, referral)
    sr_id, referral_task = out["ServiceRequest"]["id"], out["Task"]
    assert referral_task["status"] == "on-hold"

    # 1. Intake made the consult request: a Task for VoorZorg Consult and its ServiceRequest.
    task = the_consult(w.jgz, sr_id)
    assert task["id"] == consult_ids(sr_id, "1")[1]
    assert task["status"] == "requested"
    assert task["owner"]["identifier"]["value"] == CONSULT_ORG.rsplit("|", 1)[1]
    assert task["partOf"] == [{"reference": f"Task/{referral_task['id']}"}]
    assert task["basedOn"] == [{"reference": f"ServiceRequest/{sr_id}"}]

    # 2. VoorZorg Consult finds it among its requests and reads the question.
    mine = w.consult.get(f"/Task?code={CONSULT_CODE}&status=requested")
    assert [e["resource"]["id"] for e in mine.json()["entry"]] == [task["id"]]
    request = w.consult.get(f"/{task['focus']['reference']}").json()
    assert request["category"][0]["coding"][0]["code"] == "11429006"
    assert reason_codes(request) == {case.reason}
    assert request["note"][0]["text"]
    assert {o["id"] for o in request["contained"]} >= {"age-years", "very-vulnerable", "parity"}
    for r in (task, request):
        assert not has_errors(validate(r)), validate(r)
        assert_anonymous(r)

    # 3. It accepts and answers.
    done = answer(w, task, case.advice, case.moments)
    assert done["status"] == "completed"
    assert not has_errors(validate(done))

    # 4. The JGZ accepts the advice: decision, referral Task and care plan follow.
    result = accept(w.jgz, task["id"])
    guidance, moved = result["decision"], result["referralTask"]
    assert track_of(guidance) == case.track
    assert evidence_of(guidance) == case.evidence
    assert reason_codes(guidance) == {case.reason}
    assert f"Task/{task['id']}" in guidance["note"][0]["text"]
    assert guidance["meta"]["versionId"] == "2"  # the first decision (consult) stays in its history
    history = w.jgz.get(f"/GuidanceResponse/{guidance['id']}/_history").json()
    assert [track_of(e["resource"]) for e in history["entry"]] == [case.track, case.decided]
    first = history["entry"][1]["resource"]
    assert any(
        e["url"].endswith("/voorzorg-consult-required") and e["valueBoolean"] for e in first["extension"]
    )
    assert moved["id"] == referral_task["id"] and moved["status"] == case.task_status
    assert w.jgz.get(f"/Task/{moved['id']}").json()["status"] == case.task_status
    assert result["consultRequest"]["status"] == "completed"
    for r in (guidance, moved):
        assert not has_errors(validate(r)), validate(r)

    plan = w.jgz.get(f"/CarePlan?subject={out['Patient']['resourceType']}/{out['Patient']['id']}").json()
    if case.plan is None:
        assert case.task_status == "rejected"
        assert moved["statusReason"]["text"].startswith("VoorZorg Consult advised")
        assert plan["total"] == 0 or plan["entry"][0]["resource"]["status"] == "revoked"
        return
    assert plan["total"] == 1
    careplan = plan["entry"][0]["resource"]
    assert careplan["status"] == "active"
    assert careplan["instantiatesCanonical"] == [
        f"https://fhir.voorzorg.nl/PlanDefinition/voorzorg-plan-{case.plan}"
    ]
    evaluations = [
        a
        for a in careplan["activity"]
        if any(
            e["url"] == KIND_EXT and e["valueCode"] == "evaluation" for e in a["detail"].get("extension", [])
        )
    ]
    assert [activity_date(a).isoformat() for a in evaluations] == list(case.moments)


# --- one request per referral ---------------------------------------------------------------------------
def test_a_resend_makes_no_second_request(world: World, referral: dict[str, Any]) -> None:
    _forced_framework(referral)
    sr_id = intake(world.jgz, referral)["ServiceRequest"]["id"]
    first = the_consult(world.jgz, sr_id)
    intake(world.jgz, referral)
    again = the_consult(world.jgz, sr_id)
    assert again["id"] == first["id"] and again["meta"]["versionId"] == "1"
    request = world.jgz.get(f"/{first['focus']['reference']}").json()
    assert request["meta"]["versionId"] == "1"
    assert world.jgz.get("/ServiceRequest?category=http://snomed.info/sct|11429006").json()["total"] == 1


def test_a_plain_voorzorg_referral_makes_no_request(world: World, referral: dict[str, Any]) -> None:
    sr_id = intake(world.jgz, referral)["ServiceRequest"]["id"]
    assert consults(world.jgz, sr_id) == []


def test_a_changed_situation_updates_the_open_request(world: World, referral: dict[str, Any]) -> None:
    _outside_criteria(referral)
    sr_id = intake(world.jgz, referral)["ServiceRequest"]["id"]
    first = the_consult(world.jgz, sr_id)
    resource(referral, PARITY)["valueInteger"] = 2
    intake(world.jgz, referral)
    again = the_consult(world.jgz, sr_id)
    assert again["id"] == first["id"]
    request = world.jgz.get(f"/{first['focus']['reference']}").json()
    assert request["meta"]["versionId"] == "2"
    assert next(o for o in request["contained"] if o["id"] == "parity")["valueInteger"] == 2


def test_a_decision_that_no_longer_needs_a_consult_cancels_the_open_request(
    world: World, referral: dict[str, Any]
) -> None:
    _forced_framework(referral)
    sr_id = intake(world.jgz, referral)["ServiceRequest"]["id"]
    set_bool(referral, FF, False)
    out = intake(world.jgz, referral)
    assert out["Task"]["status"] == "accepted"
    task = the_consult(world.jgz, sr_id)
    assert task["status"] == "cancelled" and task["statusReason"]["text"]
    assert world.jgz.get(f"/{task['focus']['reference']}").json()["status"] == "revoked"
    # VoorZorg Consult can no longer answer it.
    assert put_task(world.consult, task, status="accepted").status_code == 409


def test_the_intake_audit_event_lists_the_consult_request_it_makes_and_cancels(
    world: World, referral: dict[str, Any]
) -> None:
    _forced_framework(referral)
    out = intake(world.jgz, referral)
    sr_id, patient = out["ServiceRequest"]["id"], f"Patient/{out['Patient']['id']}"
    request_id, task_id = consult_ids(sr_id, "1")
    consult = {f"Task/{task_id}", f"ServiceRequest/{request_id}"}
    # NEN 7513: the privacy officer finds the consult request among what the intake touched.
    made = _audit_events(world, "POST /")[-1]
    assert made["outcome"] == "0"
    assert consult <= set(_entities(made))
    assert f"ServiceRequest/{sr_id}" in _entities(made)
    # ... also when she asks who accessed her data (the record names her).
    hers = world.privacy.get(f"/AuditEvent?patient={patient}").json()
    assert made["id"] in [e["resource"]["id"] for e in hers["entry"]]
    # The consult's records are not in the sender's transaction response (it is the JGZ's question).
    assert not {f"{t}/{i}" for t, i in ((r["resourceType"], r["id"]) for r in out.values())} & consult
    # A resend that no longer needs the consult cancels it: that record names it as well.
    set_bool(referral, FF, False)
    intake(world.jgz, referral)
    # (the change's record; what the resend returned unchanged has a read record of its own)
    cancelled = [e for e in _audit_events(world, "POST /") if e["outcomeDesc"].startswith("committed")][-1]
    assert cancelled["id"] != made["id"]
    assert consult <= set(_entities(cancelled))


def test_an_accepted_advice_holds_when_the_referral_is_sent_again(
    world: World, referral: dict[str, Any]
) -> None:
    _forced_framework(referral)
    out = intake(world.jgz, referral)
    sr_id = out["ServiceRequest"]["id"]
    task = the_consult(world.jgz, sr_id)
    answer(world, task, "start-voorzorg-with-evaluation-moments", ("2026-05-04",))
    accepted = accept(world.jgz, task["id"])
    planned = world.jgz.get("/CarePlan?_count=1").json()
    plan_version = planned["entry"][0]["resource"]["meta"]["versionId"]
    again = intake(world.jgz, referral)
    assert again["Task"]["status"] == "accepted"
    assert track_of(again["GuidanceResponse"]) == "voorzorg"
    assert again["GuidanceResponse"]["meta"]["versionId"] == accepted["decision"]["meta"]["versionId"]
    assert again["Task"]["meta"]["versionId"] == accepted["referralTask"]["meta"]["versionId"]
    assert len(consults(world.jgz, sr_id)) == 1
    plan = world.jgz.get(f"/CarePlan/{again['CarePlan']['id']}").json()
    kinds = [
        e["valueCode"] for a in plan["activity"] for e in a["detail"]["extension"] if e["url"] == KIND_EXT
    ]
    assert kinds.count("evaluation") == 1
    assert plan["meta"]["versionId"] == plan_version  # the resend keeps the plan as the advice made it


def test_accepting_twice_changes_nothing(world: World, referral: dict[str, Any]) -> None:
    _outside_criteria(referral)
    sr_id = intake(world.jgz, referral)["ServiceRequest"]["id"]
    task = the_consult(world.jgz, sr_id)
    answer(world, task, "start-voorzorg")
    first = accept(world.jgz, task["id"])
    second = accept(world.jgz, task["id"])
    assert {k: v["meta"]["versionId"] for k, v in first.items()} == {
        k: v["meta"]["versionId"] for k, v in second.items()
    }


# --- what the consult team sees -------------------------------------------------------------------
def test_nothing_the_consult_team_can_read_names_the_client(world: World, referral: dict[str, Any]) -> None:
    _forced_framework(referral)
    sr_id = intake(world.jgz, referral)["ServiceRequest"]["id"]
    answer(world, the_consult(world.jgz, sr_id), "start-voorzorg-with-evaluation-moments", ("2026-05-04",))
    seen: list[dict[str, Any]] = []
    for rtype in ("Task", "ServiceRequest"):
        bundle = world.consult.get(f"/{rtype}?_count=500").json()
        assert bundle["total"] >= 1
        for e in bundle["entry"]:
            res = e["resource"]
            seen.append(res)
            seen.append(world.consult.get(f"/{rtype}/{res['id']}").json())
            history = world.consult.get(f"/{rtype}/{res['id']}/_history").json()
            seen += [h["resource"] for h in history["entry"]]
            seen.append(world.consult.get(f"/{rtype}/{res['id']}/_history/1").json())
    assert {r["resourceType"] for r in seen} == {"Task", "ServiceRequest"}
    for res in seen:
        assert_anonymous(res)
    # Patient and the referral's other data are closed to it.
    patient = world.jgz.get("/Patient").json()["entry"][0]["resource"]["id"]
    assert world.consult.get(f"/Patient/{patient}").status_code == 403
    assert (
        world.consult.get("/Patient?identifier=http://fhir.nl/fhir/NamingSystem/bsn|999911120").status_code
        == 403
    )
    for rtype in ("Observation", "Consent", "GuidanceResponse", "CarePlan"):
        assert world.consult.get(f"/{rtype}").status_code == 403, rtype


def test_the_consult_team_reads_only_consult_requests(world: World, referral: dict[str, Any]) -> None:
    _forced_framework(referral)
    out = intake(world.jgz, referral)
    consult_task = the_consult(world.jgz, out["ServiceRequest"]["id"])
    tasks = world.consult.get("/Task").json()
    assert [e["resource"]["id"] for e in tasks["entry"]] == [consult_task["id"]]
    requests = world.consult.get("/ServiceRequest").json()
    assert [e["resource"]["id"] for e in requests["entry"]] == [
        consult_task["focus"]["reference"].split("/")[1]
    ]
    # The referral itself and its Task do not exist for it (404, not 403: existence does not leak).
    assert world.consult.get(f"/ServiceRequest/{out['ServiceRequest']['id']}").status_code == 404
    assert world.consult.get(f"/Task/{out['Task']['id']}").status_code == 404
    assert world.consult.get(f"/Task?patient=Patient/{out['Patient']['id']}").json()["total"] == 1
    # ... nor can it move the referral Task.
    r = put_task(world.consult, out["Task"], status="accepted")
    assert r.status_code == 404
    # The referring practice does not see the JGZ's question either.
    assert world.obstetric.get(f"/Task/{consult_task['id']}").status_code == 404
    assert world.obstetric.get(f"/Task/{out['Task']['id']}").status_code == 200


def test_a_consult_team_sees_only_the_requests_put_to_its_own_organisation(
    world: World, referral: dict[str, Any]
) -> None:
    task = _forced_framework_consult(world, referral)
    request_ref = task["focus"]["reference"]
    other = world.other_consult
    # For another organisation with role consult the question does not exist (404, not 403) ...
    for path in (f"/Task/{task['id']}", f"/{request_ref}"):
        for suffix in ("", "/_history", "/_history/1"):
            assert other.get(path + suffix).status_code == 404, path + suffix
    for search in (
        f"/Task?code={CONSULT_CODE}&status=requested",
        f"/Task?_id={task['id']}",
        "/ServiceRequest",
    ):
        found = other.get(search).json()
        assert found["total"] == 0 and not found.get("entry"), search
    # ... nor can it answer it.
    assert put_task(other, task, status="accepted").status_code == 404
    assert world.jgz.get(f"/Task/{task['id']}").json()["meta"]["versionId"] == "1"
    # The organisation asked (Task.owner, ServiceRequest.performer) sees and answers it.
    mine = world.consult.get(f"/Task?code={CONSULT_CODE}&status=requested").json()
    assert [e["resource"]["id"] for e in mine["entry"]] == [task["id"]]
    assert world.consult.get(f"/{request_ref}").status_code == 200
    assert put_task(world.consult, task, status="accepted").status_code == 200
    # A consult token that names no organisation sees no question at all.
    nobody = world.as_(role="consult", scope="system/Task.rs", organization=None, client_id="no-organisation")
    assert nobody.get(f"/Task/{task['id']}").status_code == 404
    assert nobody.get("/Task").json()["total"] == 0


# --- the life cycle: every transition checked, history kept -----------------------------------------
def test_invalid_transitions_are_409_and_change_nothing(world: World, referral: dict[str, Any]) -> None:
    _forced_framework(referral)
    sr_id = intake(world.jgz, referral)["ServiceRequest"]["id"]
    task = the_consult(world.jgz, sr_id)

    def unchanged(expected_version: str) -> None:
        assert world.jgz.get(f"/Task/{task['id']}").json()["meta"]["versionId"] == expected_version

    # requested -> completed skips accepted
    r = put_task(world.consult, task, status="completed", output=advice_output("start-voorzorg"))
    assert r.status_code == 409, r.text
    assert r.json()["resourceType"] == "OperationOutcome"
    assert r.json()["issue"][0]["expression"] == ["Task.status"]
    unchanged("1")
    # not a consult status at all (the profile)
    assert put_task(world.consult, task, status="in-progress").status_code == 422
    # cancelling is the requester's move, not the consult team's
    assert put_task(world.consult, task, status="cancelled").status_code == 403
    # the question and whom it is about are not the consult team's to change
    r = put_task(world.consult, task, status="accepted", focus={"reference": "ServiceRequest/other"})
    assert r.status_code == 422 and "Task.focus" in r.json()["issue"][0]["expression"]
    r = put_task(world.consult, task, description="Andere vraag")
    assert r.status_code == 422
    unchanged("1")
    # the JGZ cannot take over an advice not given
    assert _post(world.jgz, f"/Task/{task['id']}/$accept-advice").status_code == 409
    accepted = put_task(world.consult, task, status="accepted").json()
    # completed without an advice breaks the profile (vz-consult-1)
    r = put_task(world.consult, accepted, status="completed")
    assert r.status_code == 422 and "vz-consult-1" in r.text
    # evaluation moments are required for that advice (vz-consult-2)
    r = put_task(
        world.consult,
        accepted,
        status="completed",
        output=advice_output("start-voorzorg-with-evaluation-moments"),
    )
    assert r.status_code == 422 and "vz-consult-2" in r.text
    # accepted -> rejected is not in the life cycle
    assert (
        put_task(world.consult, accepted, status="rejected", statusReason={"text": "nee"}).status_code == 409
    )
    unchanged("2")
    done = put_task(
        world.consult, accepted, status="completed", output=advice_output("start-voorzorg")
    ).json()
    # a final Task changes no more: no other advice afterwards, no step back
    assert put_task(world.consult, done, output=advice_output("not-voorzorg")).status_code == 409
    assert put_task(world.consult, done, status="accepted").status_code == 409
    assert put_task(world.jgz, done, status="cancelled").status_code == 409
    unchanged("3")


def test_rejected_and_cancelled_requests(world: World, referral: dict[str, Any]) -> None:
    _forced_framework(referral)
    sr_id = intake(world.jgz, referral)["ServiceRequest"]["id"]
    task = the_consult(world.jgz, sr_id)
    assert put_task(world.consult, task, status="rejected").status_code == 422  # vz-task-1: say why
    rejected = put_task(world.consult, task, status="rejected", statusReason={"text": "Geen consultvraag"})
    assert rejected.status_code == 200, rejected.text
    assert _post(world.jgz, f"/Task/{task['id']}/$accept-advice").status_code == 409
    # A question by hand, cancelled by the JGZ.
    filed = _post(world.jgz, f"/ServiceRequest/{sr_id}/$request-consult", _question("Graag meedenken."))
    assert filed.status_code == 201, filed.text
    cancelled = put_task(
        world.jgz, filed.json(), status="cancelled", statusReason={"text": "Niet meer nodig"}
    )
    assert cancelled.status_code == 200, cancelled.text


def test_a_consult_task_cancelled_by_the_jgz_revokes_its_request(
    world: World, referral: dict[str, Any]
) -> None:
    task = _forced_framework_consult(world, referral)
    request_ref = task["focus"]["reference"]
    accepted = put_task(world.consult, task, status="accepted").json()  # accepted -> cancelled too
    r = put_task(world.jgz, accepted, status="cancelled", statusReason={"text": "Niet meer nodig"})
    assert r.status_code == 200, r.text
    # The question is withdrawn as a whole: VoorZorg Consult sees a request nobody waits for any more.
    for c in (world.jgz, world.consult):
        request = c.get(f"/{request_ref}").json()
        assert request["status"] == "revoked" and request["meta"]["versionId"] == "2"
    assert not has_errors(validate(request)), validate(request)
    history = world.jgz.get(f"/{request_ref}/_history").json()
    assert [e["resource"]["status"] for e in history["entry"]] == ["revoked", "active"]
    # The cancel's AuditEvent names the request it revoked.
    cancel = _audit_events(world, f"PUT /Task/{task['id']}")[-1]
    assert {f"Task/{task['id']}", request_ref} <= set(_entities(cancel))


def test_a_consult_task_rejected_by_voorzorg_consult_revokes_its_request(
    world: World, referral: dict[str, Any]
) -> None:
    _forced_framework(referral)
    sr_id = intake(world.jgz, referral)["ServiceRequest"]["id"]
    task = the_consult(world.jgz, sr_id)
    request_ref = task["focus"]["reference"]
    refused = put_task(world.consult, task, status="rejected")  # vz-task-1: no reason, nothing stored
    assert refused.status_code == 422
    assert world.jgz.get(f"/{request_ref}").json()["status"] == "active"
    r = put_task(world.consult, task, status="rejected", statusReason={"text": "Geen consultvraag"})
    assert r.status_code == 200, r.text
    assert world.jgz.get(f"/{request_ref}").json()["status"] == "revoked"
    assert world.consult.get(f"/{request_ref}").json()["status"] == "revoked"
    # A resend with the same situation asks nothing again, and leaves the rejected request as it is.
    intake(world.jgz, referral)
    assert the_consult(world.jgz, sr_id)["meta"]["versionId"] == "2"
    assert world.jgz.get(f"/{request_ref}").json()["meta"]["versionId"] == "2"


def test_the_history_of_a_consult_task_is_kept(world: World, referral: dict[str, Any]) -> None:
    _late_start_plus_2(referral)
    sr_id = intake(world.jgz, referral)["ServiceRequest"]["id"]
    task = the_consult(world.jgz, sr_id)
    answer(world, task, "pretest-late-start-plus-2")
    for c in (world.consult, world.jgz):
        history = c.get(f"/Task/{task['id']}/_history").json()
        assert [e["resource"]["status"] for e in history["entry"]] == ["completed", "accepted", "requested"]
        first = c.get(f"/Task/{task['id']}/_history/1").json()
        assert first["status"] == "requested" and "output" not in first


# --- by hand ----------------------------------------------------------------------------------------
def _question(text: str, *reasons: str) -> dict[str, Any]:
    params: list[dict[str, Any]] = [{"name": "question", "valueString": text}]
    params += [{"name": "reason", "valueCoding": {"system": REASON, "code": r}} for r in reasons]
    return {"resourceType": "Parameters", "parameter": params}


def test_a_nurse_files_a_consult_request_by_hand(world: World, referral: dict[str, Any]) -> None:
    out = intake(world.jgz, referral)  # plain VoorZorg: intake asks nothing
    sr_id = out["ServiceRequest"]["id"]
    question = _question("Zij twijfelt of zij mee wil doen. Graag advies over de start.", "forced-framework")
    r = _post(world.jgz, f"/ServiceRequest/{sr_id}/$request-consult", question)
    assert r.status_code == 201, r.text
    task = r.json()
    assert r.headers["Location"].startswith(f"http://testserver/Task/{task['id']}/_history/1")
    assert task["status"] == "requested" and task["partOf"] == [{"reference": f"Task/{out['Task']['id']}"}]
    request = world.consult.get(f"/{task['focus']['reference']}").json()
    assert reason_codes(request) == {"forced-framework"}
    assert request["note"][0]["text"] == "Zij twijfelt of zij mee wil doen. Graag advies over de start."
    assert_anonymous(request)
    assert_anonymous(task)
    assert not has_errors(validate(request)) and not has_errors(validate(task))
    # The same question again is the same request.
    again = _post(world.jgz, f"/ServiceRequest/{sr_id}/$request-consult", question)
    assert again.status_code == 200 and again.json()["id"] == task["id"]
    # The referral Task is not touched; the advice "start VoorZorg" keeps it accepted.
    assert world.jgz.get(f"/Task/{out['Task']['id']}").json()["status"] == "accepted"
    answer(world, task, "start-voorzorg")
    result = accept(world.jgz, task["id"])
    assert result["referralTask"]["status"] == "accepted"
    assert track_of(result["decision"]) == "voorzorg"
    assert result["carePlan"]["status"] == "active"


def test_a_question_that_names_the_client_is_refused(world: World, referral: dict[str, Any]) -> None:
    sr_id = intake(world.jgz, referral)["ServiceRequest"]["id"]
    for text in (
        "Sanne twijfelt.",
        "Mevrouw JANSEN twijfelt.",
        "BSN 9999.11.120, graag advies",
        "Geboren 17-05-2004; graag advies",
    ):
        r = _post(world.jgz, f"/ServiceRequest/{sr_id}/$request-consult", _question(text, "outside-criteria"))
        assert r.status_code == 422, text
        assert "names the client" in r.json()["issue"][0]["diagnostics"]
    assert consults(world.jgz, sr_id) == []


def test_name_particles_alone_are_not_her_name(world: World, referral: dict[str, Any]) -> None:
    resource(referral, PATIENT)["name"] = [{"family": "van der Berg", "given": ["Sanne"]}]
    sr_id = intake(world.jgz, referral)["ServiceRequest"]["id"]
    path = f"/ServiceRequest/{sr_id}/$request-consult"
    ok = _post(
        world.jgz, path, _question("Graag advies over de start van de begeleiding.", "outside-criteria")
    )
    assert ok.status_code == 201, ok.text
    assert (
        _post(world.jgz, path, _question("Mevrouw Van der Berg twijfelt.", "outside-criteria")).status_code
        == 422
    )


def test_filing_by_hand_needs_a_question_and_a_reason(world: World, referral: dict[str, Any]) -> None:
    sr_id = intake(world.jgz, referral)["ServiceRequest"]["id"]
    path = f"/ServiceRequest/{sr_id}/$request-consult"
    assert _post(world.jgz, path, _question("Graag advies.")).status_code == 422  # plain VoorZorg: why?
    assert _post(world.jgz, path, _question("   ", "outside-criteria")).status_code == 422
    assert _post(world.jgz, path, _question("Graag advies.", "no-such-reason")).status_code == 422
    assert _post(world.jgz, path, {"resourceType": "Parameters"}).status_code == 400
    assert (
        _post(
            world.jgz, "/ServiceRequest/unknown/$request-consult", _question("x", "outside-criteria")
        ).status_code
        == 404
    )


def test_only_the_jgz_files_requests_and_accepts_advice(world: World, referral: dict[str, Any]) -> None:
    _forced_framework(referral)
    sr_id = intake(world.jgz, referral)["ServiceRequest"]["id"]
    task = the_consult(world.jgz, sr_id)
    path = f"/ServiceRequest/{sr_id}/$request-consult"
    assert _post(world.obstetric, path, _question("Graag advies.", "outside-criteria")).status_code == 403
    assert _post(world.consult, path, _question("Graag advies.", "outside-criteria")).status_code == 403
    answer(world, task, "start-voorzorg-with-evaluation-moments", ("2026-05-04",))
    assert _post(world.consult, f"/Task/{task['id']}/$accept-advice").status_code == 403
    assert _post(world.obstetric, f"/Task/{task['id']}/$accept-advice").status_code == 403
    assert _post(world.jgz, "/Task/no-such-task/$accept-advice").status_code == 404
    referral_task = referral_task_id(sr_id)
    assert _post(world.jgz, f"/Task/{referral_task}/$accept-advice").status_code == 404  # no consult


def test_an_advice_accepted_supersedes_other_open_requests(world: World, referral: dict[str, Any]) -> None:
    _forced_framework(referral)
    sr_id = intake(world.jgz, referral)["ServiceRequest"]["id"]
    made_at_intake = the_consult(world.jgz, sr_id)
    by_hand = _post(
        world.jgz, f"/ServiceRequest/{sr_id}/$request-consult", _question("Kan het toch?", "forced-framework")
    )
    answer(world, by_hand.json(), "not-voorzorg")
    result = accept(world.jgz, by_hand.json()["id"])
    assert result["referralTask"]["status"] == "rejected"
    superseded = world.jgz.get(f"/Task/{made_at_intake['id']}").json()
    assert superseded["status"] == "cancelled"
    assert by_hand.json()["id"] in superseded["statusReason"]["text"]


# --- what the server says it does ---------------------------------------------------------------------
def test_the_capability_statement_announces_the_operations(client: TestClient) -> None:
    cs = client.get("/metadata").json()
    ops = {
        r["type"]: {o["name"]: o["definition"] for o in r.get("operation", [])}
        for r in cs["rest"][0]["resource"]
    }
    assert ops["ServiceRequest"]["request-consult"].endswith("/OperationDefinition/request-consult")
    assert ops["Task"]["accept-advice"].endswith("/OperationDefinition/accept-advice")
    for op in ("request-consult", "accept-advice"):
        definition = client.get(f"/OperationDefinition/{op}").json()
        assert definition["code"] == op and definition["instance"] is True
    advice = client.get("/CodeSystem/voorzorg-consult-advice").json()
    assert {c["code"] for c in advice["concept"]} == {
        "start-voorzorg",
        "start-voorzorg-with-evaluation-moments",
        "start-voorzorg-2",
        "start-late-start",
        "pretest-late-start-plus-2",
        "not-voorzorg",
    }
