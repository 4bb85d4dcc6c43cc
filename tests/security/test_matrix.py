"""The authorisation matrix (issue #15): every role of the access policy (and no token at all) × resource
type × interaction (read, vread, history, search, create, update, $validate and each operation) × target
(a resource of the caller's own organisation, of another organisation, an unknown id), on both backends.

Each cell is asked of the running server and held to what the policy data says (tests/security/matrix.py);
a refusal must leak nothing: another organisation's resource answers exactly as an unknown id does
(status, body, headers, totals), a 403 is the same whatever the target, and every request is audited.
One populated store per backend serves the whole module; no request of the matrix changes it.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from adapter.api.app import create_app
from adapter.config import PROJECT_ROOT, Settings
from adapter.security.audit import AuditLog
from adapter.store.engine import Store
from adapter.workflows.sharing import summary_id
from tests.api.test_careplan import _visit
from tests.api.test_sharing import _consent
from tests.api.test_themes import _assessment, _goal
from tests.conftest import EXAMPLE_REFERRAL, FHIR_JSON_HEADERS, postgres_store
from tests.security.helpers import ORG_A, anonymous, client_as, post_referral, set_requester_org
from tests.security.matrix import (
    ROLES,
    TARGETS,
    TYPES,
    cells,
    expected,
    expected_export,
    interactions,
    readme_tables,
    visible,
)

ORG_B = "http://fhir.nl/fhir/NamingSystem/agb-z|09077777"
CONSULT_ORG = "http://fhir.nl/fhir/NamingSystem/ura|00000001"
UNKNOWN = str(uuid.UUID(int=0x15))  # an id nobody holds, as long as every real one
ORGS = {"jgz": "http://fhir.nl/fhir/NamingSystem/ura|00000000", "obstetric": ORG_A, "consult": CONSULT_ORG}
VOLATILE_HEADERS = {"date"}


@dataclass
class Side:
    """What one referring practice's referral led to, by resource type (ids)."""

    client: str = ""  # Patient/id of the client record
    ids: dict[str, str] = field(default_factory=dict)  # type -> id, as the JGZ names them
    referrer: dict[str, str] = field(default_factory=dict)  # type -> id the referrer itself has
    consult: dict[str, str] = field(default_factory=dict)  # Task/ServiceRequest of its consult request


@dataclass
class World:
    app: Any
    settings: Settings
    store: Store
    a: Side
    b: Side
    clients: dict[str, TestClient] = field(default_factory=dict)
    #: (type, id) -> (the resource as the JGZ reads it, its ETag): the bodies of the updates
    current: dict[tuple[str, str], tuple[dict[str, Any], str]] = field(default_factory=dict)

    def remember(self, side: Side) -> None:
        for ids in (side.ids, side.referrer, side.consult):
            for rtype, rid in ids.items():
                if rtype != "AuditEvent":
                    r = self.client("jgz").get(f"/{rtype}/{rid}")
                    assert r.status_code == 200, (rtype, r.text)
                    self.current[rtype, rid] = r.json(), r.headers["etag"]

    def client(self, role: str) -> TestClient:
        if role not in self.clients:
            self.clients[role] = (
                anonymous(self.app)
                if role == "anonymous"
                else client_as(
                    self.app,
                    self.settings,
                    role=role,
                    scope="system/*.cruds",
                    organization=ORGS.get(role),
                    client_id=f"matrix-{role}",
                )
            )
        return self.clients[role]


# --- the world: two practices' referrals and the JGZ's work on both ---------------------------------
def _referral(organization: str, bsn: str, number: str, family: str) -> dict[str, Any]:
    bundle: dict[str, Any] = json.loads(EXAMPLE_REFERRAL.read_text(encoding="utf-8"))
    set_requester_org(bundle, organization)
    for e in bundle["entry"]:
        r = e["resource"]
        e["request"].pop("ifNoneExist", None)
        if r["resourceType"] == "Patient":
            r["identifier"][0]["value"] = bsn
            r["name"][0]["family"] = family
        if r["resourceType"] == "ServiceRequest":
            r["identifier"][0]["value"] = number
    return bundle


def _side(world: World, organization: str, bsn: str, number: str, family: str, n: int) -> Side:
    jgz = world.client("jgz")
    sender = client_as(world.app, world.settings, role="obstetric", organization=organization)
    r = post_referral(sender, _referral(organization, bsn, number, family))
    assert r.status_code == 200, r.text
    sent = {e["resource"]["resourceType"]: e["resource"] for e in reversed(r.json()["entry"])}
    side = Side(client=sent["ServiceRequest"]["subject"]["reference"])
    side.referrer = {t: res["id"] for t, res in sent.items()}
    side.ids = {**side.referrer, "Patient": side.client.split("/")[1]}

    def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        made = jgz.post(path, content=json.dumps(body), headers=FHIR_JSON_HEADERS)
        assert made.status_code in (200, 201), (path, made.text)
        return dict(made.json())

    reason = {
        "system": "https://fhir.voorzorg.nl/CodeSystem/voorzorg-decision-reason",
        "code": "forced-framework",
    }
    question = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "question", "valueString": "Past het?"},
            {"name": "reason", "valueCoding": reason},
        ],
    }
    post(f"/ServiceRequest/{side.ids['ServiceRequest']}/$request-consult", question)
    code = "https://fhir.voorzorg.nl/CodeSystem/voorzorg-referral-item|voorzorg-consult-request"
    for found in jgz.get("/Task", params={"code": code, "patient": side.client}).json()["entry"]:
        side.consult = {
            "Task": found["resource"]["id"],
            "ServiceRequest": found["resource"]["focus"]["reference"],
        }
    side.consult["ServiceRequest"] = side.consult["ServiceRequest"].split("/")[1]
    side.ids["Encounter"] = post("/Encounter", _visit(sent["CarePlan"], 1, ident=f"v-{n}"))["id"]
    theme = _assessment(side.client, "veiligheid", "concern", "2026-03-02T10:00:00+01:00", f"ta-{n}")
    side.ids["Observation"] = post("/Observation", theme)["id"]
    side.ids["Goal"] = post("/Goal", _goal(side.client, "veiligheid", "no-concern", f"g-{n}"))["id"]
    side.ids["Consent"] = post("/Consent", _consent(side.client))["id"]
    side.ids["EpisodeOfCare"] = summary_id(side.client)
    _parts_sent_along(world, side, organization)
    officer = world.client("privacy-officer")
    side.ids["AuditEvent"] = officer.get("/AuditEvent", params={"patient": side.client}).json()["entry"][0][
        "resource"
    ]["id"]
    side.referrer["AuditEvent"] = side.ids["AuditEvent"]
    return side


def _parts_sent_along(world: World, side: Side, organization: str) -> None:
    """A Condition, Practitioner and PractitionerRole the practice's referral carried (stored as intake
    stores them: the practice has a part in them)."""
    for rtype, extra in (
        ("Condition", {"subject": {"reference": side.client}, "code": {"text": "zwangerschap"}}),
        ("Practitioner", {"name": [{"family": "Verloskundige"}]}),
        ("PractitionerRole", {"organization": {"reference": f"Organization/{side.ids['Organization']}"}}),
    ):
        rid = str(uuid.uuid4())
        body = {"resourceType": rtype, "id": rid, **extra}

        def work(s: Any, body: dict[str, Any] = body, rtype: str = rtype, rid: str = rid) -> None:
            s.put(body)
            s.grant(rtype, rid, organization)

        world.store.write(work)
        side.ids[rtype] = side.referrer[rtype] = rid


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp(f"matrix-{request.param}")
    if request.param == "postgres":
        stores = postgres_store()
        store = next(stores)
    else:
        store = Store(f"sqlite:///{tmp / 'voorzorg.db'}")
        store.migrate()
    settings = Settings(data_dir=tmp, base_url="http://testserver")
    world = World(create_app(settings, store), settings, store, Side(), Side())
    world.a = _side(world, ORG_A, "999911120", "A-1", "Jansen", 1)
    world.b = _side(world, ORG_B, "999911132", "B-1", "Bakker", 2)
    world.remember(world.a)
    world.remember(world.b)
    yield world
    if request.param == "postgres":
        next(stores, None)
    else:
        store.dispose()


# --- one cell ---------------------------------------------------------------------------------------
def target_id(world: World, role: str, rtype: str, target: str) -> str:
    """The resource a cell is about: the role's own organisation's (side A), another's (side B), none."""
    if target == "unknown":
        return UNKNOWN
    side = world.a if target == "own" else world.b
    if role == "consult" and target == "own" and rtype in side.consult:
        return side.consult[rtype]
    if role == "obstetric":
        return side.referrer.get(rtype) or side.ids[rtype]
    return side.ids[rtype]


def ask(world: World, role: str, rtype: str, interaction: str, target: str) -> Response:
    c = world.client(role)
    rid = target_id(world, role, rtype, target)
    path = f"/{rtype}/{rid}"
    if interaction == "read":
        return c.get(path)
    if interaction == "vread":
        return c.get(f"{path}/_history/1")
    if interaction == "history":
        return c.get(f"{path}/_history")
    if interaction == "search":
        if rtype == "AuditEvent":
            side = {"own": world.a.client, "other": world.b.client}.get(target, f"Patient/{UNKNOWN}")
            return c.get("/AuditEvent", params={"patient": side})
        return c.get(f"/{rtype}", params={"_id": rid})
    if interaction == "create":
        subject = {"reference": f"Patient/{target_id(world, 'jgz', 'Patient', target)}"}
        body = {"resourceType": rtype, "subject": subject, "patient": subject, "for": subject}
        return c.post(f"/{rtype}", content=json.dumps(body), headers=FHIR_JSON_HEADERS)
    if interaction == "update":
        return _update(world, c, rtype, rid, target)
    return _operation(c, rtype, rid, interaction)


def _update(world: World, c: TestClient, rtype: str, rid: str, target: str) -> Response:
    """The resource as it is (so an update that is allowed changes nothing), with its version; for an
    unknown id, the own one's content under that id."""
    known = world.a.ids.get(rtype, "") if target == "unknown" else rid
    body, etag = world.current.get((rtype, known), ({"resourceType": rtype}, 'W/"1"'))
    headers = {**FHIR_JSON_HEADERS, "If-Match": 'W/"1"' if target == "unknown" else etag}
    return c.put(f"/{rtype}/{rid}", content=json.dumps({**body, "id": rid}), headers=headers)


def _operation(c: TestClient, rtype: str, rid: str, op: str) -> Response:
    if op == "$validate":
        return c.get(f"/{rtype}/{rid}/$validate")
    if op == "$progress":
        return c.get(f"/CarePlan/{rid}/$progress", params={"date": "2026-06-01"})
    if op == "$themes":
        return c.get(f"/Patient/{rid}/$themes")
    if op == "$apply":
        return c.post("/PlanDefinition/voorzorg-plan-voorzorg/$apply", params={"subject": f"Patient/{rid}"})
    body = "{}" if op == "$request-consult" else ""
    return c.post(f"/{rtype}/{rid}/{op}", content=body, headers=FHIR_JSON_HEADERS)


def _normal(r: Response, world: World, role: str, rtype: str, target: str) -> tuple[int, str, dict[str, str]]:
    """A response with the target's ids made the unknown one, for comparing what two answers reveal."""
    text = r.text
    if target != "unknown":
        side = world.a if target == "own" else world.b
        for rid in {target_id(world, role, rtype, target), side.client.split("/")[1]}:
            text = text.replace(rid, UNKNOWN)
    headers = {k: v for k, v in r.headers.items() if k not in VOLATILE_HEADERS}
    return r.status_code, text, headers


def _total(r: Response) -> int | None:
    try:
        body = r.json()
    except ValueError:
        return None
    return body.get("total") if isinstance(body, dict) else None


@pytest.mark.parametrize("rtype", TYPES)
@pytest.mark.parametrize("role", ROLES)
def test_the_matrix(world: World, role: str, rtype: str) -> None:
    """Every interaction × target of this role on this type: the answer the policy owes, no 5xx, no leak
    between another organisation's resource and an unknown id, every request audited."""
    log = AuditLog(world.store)
    before = log.search(None, 1, 0)[0]
    wrong: list[str] = []
    asked = 0
    for interaction in interactions(rtype):
        answers: dict[str, Response] = {}
        for target in TARGETS:
            want = expected(role, rtype, interaction, target)
            r = answers[target] = ask(world, role, rtype, interaction, target)
            asked += 1
            if not want.holds(r.status_code, _total(r)):
                wrong.append(f"{interaction} {target}: want {want}, got {r.status_code} {r.text[:160]}")
            if r.status_code >= 400 and r.json().get("resourceType") != "OperationOutcome":
                wrong.append(f"{interaction} {target}: a refusal without an OperationOutcome")
            if interaction == "create" and 200 <= r.status_code < 300:
                wrong.append(f"create {target}: the matrix must not change the world ({r.status_code})")
        wrong += _leaks(world, role, rtype, interaction, answers)
    assert not wrong, f"{role} on {rtype}:\n" + "\n".join(wrong)
    assert log.search(None, 1, 0)[0] == before + asked  # each request one AuditEvent, refusals included


def _leaks(world: World, role: str, rtype: str, interaction: str, answers: dict[str, Response]) -> list[str]:
    """Targets the role may not see must answer alike: another organisation's as an unknown id's, and a
    403 the same for every target."""
    same: list[str] = []
    hidden = [t for t in TARGETS if not visible(role, rtype, t)]
    if expected(role, rtype, interaction, "own").status in (401, 403, 405):
        hidden = list(TARGETS)
    base = _normal(answers["unknown"], world, role, rtype, "unknown")
    for t in hidden:
        if t != "unknown" and _normal(answers[t], world, role, rtype, t) != base:
            same.append(f"{interaction}: {t} answers differently from an unknown id: {answers[t].text[:200]}")
    return same


@pytest.mark.parametrize("role", ROLES)
def test_who_may_export(world: World, role: str) -> None:
    """`$export`, identifiable and pseudonymised: the answer the policy's `export` right owes each role;
    a refusal names the operation. An accepted export runs to its end before the next test."""
    c = world.client(role)
    headers = {"Prefer": "respond-async", "Accept": "application/fhir+json"}
    for pseudonymised in (False, True):
        want = expected_export(role, pseudonymised)
        params = {"_type": "Patient", **({"_pseudonymise": "true"} if pseudonymised else {})}
        r = c.get("/$export", params=params, headers=headers)
        assert want.holds(r.status_code, None), (role, pseudonymised, r.status_code, r.text[:200])
        assert r.json()["resourceType"] == "OperationOutcome"
        if r.status_code == 403:
            assert "$export" in r.text
        if r.status_code == 202:
            status_url = r.headers["content-location"]
            for _ in range(600):
                if c.get(status_url).status_code == 200:
                    break
                time.sleep(0.05)
            world.app.state.ctx.adapter.exports.wait()
            assert c.get(status_url).status_code == 200


def test_the_matrix_has_every_cell() -> None:
    """Roles × types × interactions × targets, as the policy data has them (per backend)."""
    assert len(cells()) == len(ROLES) * sum(len(interactions(t)) for t in TYPES) * len(TARGETS) == 2640


def test_the_readme_shows_the_matrix() -> None:
    """The README's Security section carries the matrix as generated from the policy data."""
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    found = re.search(r"<!-- matrix:start -->\n(.*?)\n<!-- matrix:end -->", readme, re.S)
    assert found is not None, "README: the matrix markers are missing"
    assert found.group(1).strip() == readme_tables(), "README: regenerate with tests/security/matrix.py"
