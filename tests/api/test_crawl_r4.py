"""Every answer of the server is valid R4 (issue #18, item 1).

The server is filled through its own API the way its users fill it (two referrals, one of them through
VoorZorg Consult and its advice; a home visit, a theme assessment and a goal, a sharing consent, a child
born, VoorZorg Verder applied), then crawled for every role: every resource type and interaction the
CapabilityStatement declares — search (each declared search parameter, with a value the data has, each
declared `_include`/`_revinclude`, and the paging links), history of the type and of instances, read,
vread, `$validate`, the instance operations — and the audit trail. Every resource the server answers —
2xx answers and the OperationOutcomes of refusals alike — must parse in `fhirclient`'s strict R4 models
and have no error in the project's validator (its R4 base definition and the profiles it declares).

Bounded in time: instance-level interactions on a few instances per type and role, at most a few pages
per search; each distinct answer is checked once.
"""

from __future__ import annotations

import copy
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from fastapi.testclient import TestClient
from fhirclient.models.fhirelementfactory import FHIRElementFactory
from fhirpathpy import evaluate as fhirpath

from adapter.api.app import create_app
from adapter.config import Settings
from adapter.data import search_parameters
from adapter.fhir.validator import has_errors, validate
from adapter.store.engine import Store
from tests.api.helpers import FF, set_bool
from tests.api.test_careplan import _visit
from tests.api.test_consult import CONSULT_ORG, REASON, advice_output, put_task, the_consult
from tests.api.test_sharing import OZKS_ORG, _consent, _other_client
from tests.api.test_themes import _assessment, _child, _goal
from tests.conftest import FHIR_JSON_HEADERS, JGZ_ORGANIZATION, bearer
from tests.security.helpers import ORG_A

ROLES: dict[str, dict[str, Any]] = {
    "jgz": {"role": "jgz", "scope": "system/*.cruds", "organization": JGZ_ORGANIZATION},
    "obstetric": {
        "role": "obstetric",
        "scope": "system/*.cruds",
        "organization": ORG_A,
        "client_id": "de-wieg",
    },
    "consult": {
        "role": "consult",
        "scope": "system/Task.rus system/ServiceRequest.rs",
        "organization": CONSULT_ORG,
        "client_id": "voorzorg-consult",
    },
    "ozks": {
        "role": "ozks",
        "scope": "system/EpisodeOfCare.rs system/Patient.rs system/CarePlan.rs",
        "organization": OZKS_ORG,
        "client_id": "ozks",
    },
    "privacy-officer": {
        "role": "privacy-officer",
        "scope": "system/AuditEvent.rs",
        "organization": None,
        "client_id": "privacy-officer",
    },
    "exchange-admin": {
        "role": "exchange-admin",
        "scope": "system/OutboxMessage.rs",
        "organization": None,
        "client_id": "exchange-admin",
    },
}
INSTANCES_PER_TYPE = {"jgz": 3}  # instance-level interactions on this many instances per type (others: 1)
PAGES = 3  # paging links followed per search


@dataclass
class Crawl:
    """What was asked and what was wrong."""

    requests: int = 0
    checked: dict[str, str] = field(default_factory=dict)  # distinct answer -> where first seen
    by_role: dict[str, int] = field(default_factory=dict)  # role -> resources answered
    problems: list[str] = field(default_factory=list)
    server_errors: list[str] = field(default_factory=list)

    def answer(self, role: str, where: str, r: Any) -> dict[str, Any] | None:
        """Check the answer's resource; None when it is not a FHIR resource."""
        self.requests += 1
        if r.status_code >= 500:
            self.server_errors.append(f"{role} {where}: {r.status_code} {r.text[:300]}")
        try:
            body = r.json()
        except ValueError:
            return None
        if not isinstance(body, dict) or "resourceType" not in body:
            return None
        self.by_role[role] = self.by_role.get(role, 0) + 1
        self.check(body, f"{role} {where} ({r.status_code})")
        return body

    def check(self, resource: dict[str, Any], where: str) -> None:
        key = json.dumps(resource, sort_keys=True)
        if key in self.checked:
            return
        self.checked[key] = where
        try:
            FHIRElementFactory.instantiate(resource["resourceType"], copy.deepcopy(resource))
        except Exception as e:  # FHIRValidationError, or a type fhirclient does not know
            self.problems.append(f"{where}: fhirclient: {str(e)[:500]}")
        for i in validate(resource):
            if has_errors([i]):
                self.problems.append(f"{where}: {', '.join(i.expression)}: {i.diagnostics}")


@pytest.fixture
def app_and_settings(tmp_path: Path) -> Iterator[tuple[Any, Settings]]:
    settings = Settings(
        data_dir=tmp_path,
        base_url="http://testserver",
        trained_modules=frozenset({"voorzorg-2", "late-start"}),
    )
    store = Store(f"sqlite:///{tmp_path / 'crawl.db'}")
    store.migrate()
    yield create_app(settings, store), settings
    store.dispose()


def _client(app: Any, settings: Settings, role: str) -> TestClient:
    return TestClient(app, headers=bearer(settings, **ROLES[role]), raise_server_exceptions=False)


def _post(c: TestClient, path: str, body: Any = None) -> Any:
    return c.post(path, content=json.dumps(body) if body is not None else b"", headers=FHIR_JSON_HEADERS)


def _put(c: TestClient, resource: dict[str, Any]) -> Any:
    headers = {**FHIR_JSON_HEADERS, "If-Match": f'W/"{resource["meta"]["versionId"]}"'}
    path = f"/{resource['resourceType']}/{resource['id']}"
    return c.put(path, content=json.dumps(resource), headers=headers)


def _entries(bundle: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    return {e["resource"]["resourceType"]: e["resource"] for e in (bundle or {}).get("entry", [])}


def fill(crawl: Crawl, app: Any, settings: Settings, referral: dict[str, Any]) -> None:
    """The server's data, made through its API (every answer checked as it comes)."""
    jgz, consult = _client(app, settings, "jgz"), _client(app, settings, "consult")
    obstetric = _client(app, settings, "obstetric")

    def ok(role: str, where: str, r: Any) -> dict[str, Any]:
        assert r.status_code < 300, f"{role} {where}: {r.status_code} {r.text[:500]}"
        body = crawl.answer(role, where, r)
        assert body is not None, where
        return body

    out = _entries(ok("obstetric", "POST / (the referral)", _post(obstetric, "/", referral)))
    ok("jgz", "POST /$check-eligibility", _post(jgz, "/$check-eligibility", referral))
    patient = out["CarePlan"]["subject"]["reference"]  # the client record (the sender's Patient is its copy)
    visit = ok("jgz", "POST /Encounter", _post(jgz, "/Encounter", _visit(out["CarePlan"], 1)))
    visit_ref = f"Encounter/{visit['id']}"
    theme = _assessment(patient, "financiele-stabiliteit", "concern", "2026-03-20", "ta-1", visit_ref)
    assessed = ok("jgz", "POST /Observation", _post(jgz, "/Observation", theme))
    goal = ok(
        "jgz",
        "POST /Goal",
        _post(jgz, "/Goal", _goal(patient, "financiele-stabiliteit", "no-concern", "g-1")),
    )
    ok("jgz", "PUT /Goal", _put(jgz, goal))
    consent = ok("jgz", "POST /Consent", _post(jgz, "/Consent", _consent(patient)))
    ok("jgz", "PUT /Consent", _put(jgz, consent))
    ok("jgz", "POST /Patient (a child born)", _post(jgz, "/Patient", _child(patient)))
    subject = {"resourceType": "Parameters", "parameter": [{"name": "subject", "valueString": patient}]}
    ok(
        "jgz",
        "POST /PlanDefinition/$apply",
        _post(jgz, "/PlanDefinition/voorzorg-plan-voorzorg/$apply", subject),
    )
    sr = out["ServiceRequest"]["id"]
    question = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "question", "valueString": "Past VoorZorg bij haar situatie?"},
            {"name": "reason", "valueCoding": {"system": REASON, "code": "forced-framework"}},
        ],
    }
    ok(
        "jgz",
        "POST /ServiceRequest/$request-consult",
        _post(jgz, f"/ServiceRequest/{sr}/$request-consult", question),
    )
    # a second client, through VoorZorg Consult: a forced framework, advice, the JGZ accepts it
    other = json.loads(_other_client(referral))
    set_bool(other, FF, True)
    second = _entries(ok("jgz", "POST / (a consult case)", _post(jgz, "/", other)))
    task = the_consult(jgz, second["ServiceRequest"]["id"])
    accepted = ok("consult", "PUT /Task (accepted)", put_task(consult, task, status="accepted"))
    advice = advice_output("start-voorzorg-with-evaluation-moments", ("2026-05-04",), "Advies op maat.")
    ok("consult", "PUT /Task (completed)", put_task(consult, accepted, status="completed", output=advice))
    ok("jgz", "POST /Task/$accept-advice", _post(jgz, f"/Task/{task['id']}/$accept-advice"))
    crawl.answer(
        "obstetric",
        "POST /Task (a notification, no peer)",
        _post(obstetric, "/Task", {"resourceType": "Task"}),
    )
    assert assessed["resourceType"] == "Observation"


def _search_value(resource: dict[str, Any], definition: dict[str, Any]) -> str | None:
    """A value of a search parameter that this resource has (its expression evaluated), as a query value."""
    try:
        found = fhirpath(resource, definition["expression"], {})
    except Exception:
        return None
    for v in found:
        if isinstance(v, str) and definition["type"] == "date":
            return v[:10]
        if isinstance(v, str):
            return v
        if isinstance(v, dict) and "reference" in v:
            return str(v["reference"])
        if isinstance(v, dict) and ("code" in v or "value" in v):
            code = v.get("code", v.get("value"))
            return f"{v['system']}|{code}" if v.get("system") else str(code)
        if isinstance(v, dict) and v.get("coding"):
            c = v["coding"][0]
            return f"{c.get('system', '')}|{c.get('code', '')}"
    return None


def _search(crawl: Crawl, c: TestClient, role: str, path: str) -> list[dict[str, Any]]:
    """A search and its next pages: the resources found."""
    found: list[dict[str, Any]] = []
    url: str | None = path
    for _ in range(PAGES):
        if url is None:
            break
        bundle = crawl.answer(role, f"GET {url}", c.get(url))
        if not bundle or bundle.get("resourceType") != "Bundle":
            break
        found += [e["resource"] for e in bundle.get("entry", []) if "resource" in e]
        nxt = next((link["url"] for link in bundle.get("link", []) if link.get("relation") == "next"), None)
        url = (
            None
            if nxt is None
            else (urlsplit(nxt).path + ("?" + urlsplit(nxt).query if urlsplit(nxt).query else ""))
        )
    return found


def crawl_as(crawl: Crawl, c: TestClient, role: str, statement: dict[str, Any]) -> None:
    ok = crawl.answer
    for declared in statement["rest"][0]["resource"]:
        rtype = declared["type"]
        interactions = {i["code"] for i in declared.get("interaction", [])}
        found = _search(crawl, c, role, f"/{rtype}?_count=20") if "search-type" in interactions else []
        for param in declared.get("searchParam", []):
            definition = search_parameters().get(rtype, {}).get(param["name"])
            value = None
            if param["name"] == "_id" and found:
                value = found[0]["id"]
            elif param["name"] in ("url", "name") and found:
                value = found[0].get(param["name"])
            elif param["name"] == "_lastUpdated":
                value = "ge2000-01-01"
            elif definition and found:
                value = _search_value(found[0], definition)
            if value:
                ok(
                    role,
                    f"GET /{rtype}?{param['name']}",
                    c.get(f"/{rtype}?{param['name']}={quote(str(value))}"),
                )
        for kind in ("_include", "_revinclude"):  # the includes the statement declares, if any
            for include in declared.get("searchInclude" if kind == "_include" else "searchRevInclude", []):
                ok(
                    role,
                    f"GET /{rtype}?{kind}={include}",
                    c.get(f"/{rtype}?{kind}={quote(include)}&_count=10"),
                )
        if "history-type" in interactions:
            ok(role, f"GET /{rtype}/_history", c.get(f"/{rtype}/_history?_count=20"))
        for resource in found[: INSTANCES_PER_TYPE.get(role, 1)]:
            _instance(crawl, c, role, declared, interactions, resource)


def _instance(
    crawl: Crawl,
    c: TestClient,
    role: str,
    declared: dict[str, Any],
    interactions: set[str],
    resource: dict[str, Any],
) -> None:
    ok = crawl.answer
    rtype, rid = resource["resourceType"], resource["id"]
    if "read" in interactions:
        ok(role, f"GET /{rtype}/[id]", c.get(f"/{rtype}/{rid}"))
    version = (resource.get("meta") or {}).get("versionId")
    if "vread" in interactions and version:
        ok(role, f"GET /{rtype}/[id]/_history/[vid]", c.get(f"/{rtype}/{rid}/_history/{version}"))
    if "history-instance" in interactions:
        ok(role, f"GET /{rtype}/[id]/_history", c.get(f"/{rtype}/{rid}/_history"))
    for op in declared.get("operation", []):
        if op["name"] == "validate":
            ok(role, f"GET /{rtype}/[id]/$validate", c.get(f"/{rtype}/{rid}/$validate"))
            ok(role, f"POST /{rtype}/$validate", _post(c, f"/{rtype}/$validate", resource))
        elif op["name"] in ("progress", "themes"):
            ok(role, f"GET /{rtype}/[id]/${op['name']}", c.get(f"/{rtype}/{rid}/${op['name']}"))


def _audit_trail(crawl: Crawl, c: TestClient, role: str) -> None:
    """The audit trail (NEN 7513), which the privacy officer reads and everyone else is refused."""
    events = _search(crawl, c, role, "/AuditEvent?_count=100")
    for event in events[: INSTANCES_PER_TYPE.get(role, 1)]:
        crawl.answer(role, "GET /AuditEvent/[id]", c.get(f"/AuditEvent/{event['id']}"))


def _grouped(problems: list[str]) -> list[str]:
    """One line per kind of problem (indexes and ids folded), with how often it came and a first example."""
    kinds: dict[str, list[str]] = {}
    for p in problems:
        kinds.setdefault(re.sub(r"\[\d+\]|/[0-9a-f-]{36}|\d+", "#", p.split(": ", 1)[-1])[:160], []).append(p)
    return [f"{len(found)}x {found[0][:400]}" for found in kinds.values()]


def test_every_answer_to_every_role_is_valid_r4(
    app_and_settings: tuple[Any, Settings], referral: dict[str, Any]
) -> None:
    app, settings = app_and_settings
    crawl = Crawl()
    started = time.monotonic()
    fill(crawl, app, settings, referral)
    anonymous = TestClient(app, raise_server_exceptions=False)
    statement = crawl.answer("anonymous", "GET /metadata", anonymous.get("/metadata"))
    assert statement is not None and statement["resourceType"] == "CapabilityStatement"
    crawl.answer("anonymous", "GET /Patient (no token)", anonymous.get("/Patient"))
    for role in ROLES:
        c = _client(app, settings, role)
        crawl_as(crawl, c, role, statement)
        _audit_trail(crawl, c, role)
    took = time.monotonic() - started
    print(
        f"\ncrawl: {crawl.requests} requests, {len(crawl.checked)} distinct answers checked, "
        f"resources answered per role {crawl.by_role}, {took:.0f} s"
    )
    assert not crawl.server_errors, "\n".join(crawl.server_errors)
    assert not crawl.problems, f"{len(crawl.problems)} problems:\n" + "\n".join(_grouped(crawl.problems))
    assert crawl.by_role.get("privacy-officer", 0) > 1 and crawl.by_role.get("jgz", 0) > 100
