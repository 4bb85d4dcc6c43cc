"""Subscriptions for referral senders (R4 topic-based Subscriptions backport, rest-hook), against real
HTTP endpoints (pytest-httpserver): a handshake makes it active; every change of the sender's referral
Task is a numbered notification through the outbox — id-only or with the Task, never another practice's
Task, narrowed by filter criteria; heartbeats; and after failed deliveries the status error, from which a
restart recovers without losing a notification."""

from __future__ import annotations

import copy
import json
import socket
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from adapter.api.app import create_app
from adapter.config import Settings
from adapter.exchange.client import RetryPolicy
from adapter.exchange.notifier import SubscriptionNotifier
from adapter.exchange.outbox import Outbox
from adapter.exchange.subscriptions import BACKPORT, TOPIC
from adapter.exchange.worker import WorkerSettings
from adapter.store.engine import Store
from tests.conftest import FHIR_JSON_HEADERS
from tests.exchange.conftest import exchange_settings
from tests.security.helpers import ORG_A, ORG_B, client_as, obstetric, post_referral, set_requester_org

QUICK = WorkerSettings(poll_interval=0.01, max_attempts=3, backoff=0.001, backoff_max=0.002, lease=30.0)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return exchange_settings(tmp_path, None, subscription_allow_http=True, subscription_allow_private=True)


@pytest.fixture
def app(store: Store, settings: Settings) -> FastAPI:
    return create_app(settings, store)


@pytest.fixture
def notifier(app: FastAPI) -> SubscriptionNotifier:
    adapter = app.state.ctx.adapter
    return adapter.exchange.notifier(adapter.store, worker_settings=QUICK, retry=RetryPolicy(retries=0))


@pytest.fixture
def hooks(httpserver: HTTPServer) -> dict[str, list[dict[str, Any]]]:
    """Endpoints that answer 200 and keep what they got (body and headers), per path."""
    got: dict[str, list[dict[str, Any]]] = {}

    def keep(request: Request) -> Response:
        got.setdefault(request.path, []).append(
            {"body": json.loads(request.data), "headers": dict(request.headers)}
        )
        return Response("", status=200)

    for path in ("/a/full", "/a/ids", "/a/completed", "/b/hook", "/a/heart"):
        httpserver.expect_request(path, method="POST").respond_with_handler(keep)
    return got


def subscription(endpoint: str, content: str = "id-only", **extra: Any) -> dict[str, Any]:
    sub: dict[str, Any] = {
        "resourceType": "Subscription",
        "status": "requested",
        "reason": "the status of our referrals",
        "criteria": TOPIC,
        "channel": {
            "type": "rest-hook",
            "endpoint": endpoint,
            "payload": "application/fhir+json",
            "_payload": {
                "extension": [{"url": f"{BACKPORT}/backport-payload-content", "valueCode": content}]
            },
            "header": ["Authorization: Bearer their-own-secret"],
        },
    }
    filters = extra.pop("filters", [])
    if filters:
        sub["_criteria"] = {
            "extension": [{"url": f"{BACKPORT}/backport-filter-criteria", "valueString": f} for f in filters]
        }
    heartbeat = extra.pop("heartbeat", None)
    if heartbeat:
        sub["channel"]["extension"] = [
            {"url": f"{BACKPORT}/backport-heartbeat-period", "valueUnsignedInt": heartbeat}
        ]
    return {**sub, **extra}


def subscribe(client: TestClient, sub: dict[str, Any]) -> dict[str, Any]:
    r = client.post("/Subscription", content=json.dumps(sub), headers=FHIR_JSON_HEADERS)
    assert r.status_code == 201, r.text
    made: dict[str, Any] = r.json()
    assert made["status"] == "requested"
    return made


def referral_of(referral: dict[str, Any], org: str, number: str) -> dict[str, Any]:
    mine = copy.deepcopy(referral)
    set_requester_org(mine, org)
    for e in mine["entry"]:
        if e["resource"]["resourceType"] == "ServiceRequest":
            e["resource"]["identifier"][0]["value"] = number
            e["request"]["ifNoneExist"] = e["request"]["ifNoneExist"].replace("VZ-2026-0042", number)
    return mine


def versioned(resource: dict[str, Any]) -> dict[str, str]:
    """The headers of an update of `resource` as read: If-Match with its version."""
    return {**FHIR_JSON_HEADERS, "If-Match": f'W/"{resource["meta"]["versionId"]}"'}


def move(jgz: TestClient, task_id: str, status: str) -> None:
    task = jgz.get(f"/Task/{task_id}").json()
    version = task["meta"]["versionId"]
    task["status"] = status
    r = jgz.put(
        f"/Task/{task_id}",
        content=json.dumps(task),
        headers={**FHIR_JSON_HEADERS, "If-Match": f'W/"{version}"'},
    )
    assert r.status_code == 200, r.text


def referral_task(client: TestClient) -> str:
    [entry] = client.get("/Task?code=http://hl7.org/fhir/CodeSystem/task-code|fulfill").json()["entry"]
    return str(entry["resource"]["id"])


def drain(notifier: SubscriptionNotifier, rounds: int = 200) -> None:
    for _ in range(rounds):
        if notifier.run_once() == 0:
            return
        time.sleep(0.003)
    raise AssertionError("the notifier kept finding work")


def status_of(client: TestClient, sub_id: str) -> dict[str, Any]:
    bundle = client.get(f"/Subscription/{sub_id}/$status").json()
    params = bundle["entry"][0]["resource"]["parameter"]
    return {
        p["name"]: next(v for k, v in p.items() if k.startswith("value")) for p in params if "part" not in p
    }


def parameters(notification: dict[str, Any]) -> dict[str, Any]:
    assert notification["resourceType"] == "Bundle" and notification["type"] == "history"
    status = notification["entry"][0]["resource"]
    assert status["resourceType"] == "Parameters"
    out: dict[str, Any] = {}
    for p in status["parameter"]:
        out[p["name"]] = p["part"] if "part" in p else next(v for k, v in p.items() if k.startswith("value"))
    return out


def test_a_sender_is_notified_of_its_own_referral_tasks_only(
    app: FastAPI,
    settings: Settings,
    referral: dict[str, Any],
    httpserver: HTTPServer,
    hooks: dict[str, list[dict[str, Any]]],
    notifier: SubscriptionNotifier,
) -> None:
    a, b, jgz = obstetric(app, settings, ORG_A), obstetric(app, settings, ORG_B), client_as(app, settings)
    assert post_referral(a, referral_of(referral, ORG_A, "A-1")).status_code == 200
    assert post_referral(b, referral_of(referral, ORG_B, "B-1")).status_code == 200
    full = subscribe(a, subscription(httpserver.url_for("/a/full"), "full-resource"))
    ids = subscribe(a, subscription(httpserver.url_for("/a/ids"), "id-only"))
    done = subscribe(a, subscription(httpserver.url_for("/a/completed"), filters=["Task?status=completed"]))
    theirs = subscribe(b, subscription(httpserver.url_for("/b/hook")))
    drain(notifier)
    for path, sub in (("/a/full", full), ("/a/ids", ids), ("/a/completed", done), ("/b/hook", theirs)):
        [handshake] = hooks[path]
        said = parameters(handshake["body"])
        assert said["type"] == "handshake" and said["status"] == "active" and said["topic"] == TOPIC
        assert said["subscription"]["reference"] == f"http://testserver/Subscription/{sub['id']}"
        assert handshake["headers"]["Authorization"] == "Bearer their-own-secret"
        assert a.get(f"/Subscription/{sub['id']}").status_code == (200 if path.startswith("/a") else 404)
    assert status_of(a, full["id"])["status"] == "active"

    task_a = referral_task(a)
    move(jgz, task_a, "in-progress")
    move(jgz, task_a, "completed")
    drain(notifier)

    events = [parameters(n["body"]) for n in hooks["/a/full"][1:]]
    assert [e["type"] for e in events] == ["event-notification", "event-notification"]
    assert [e["events-since-subscription-start"] for e in events] == ["1", "2"]
    numbers = [{p["name"]: p for p in e["notification-event"]}["event-number"]["valueString"] for e in events]
    assert numbers == ["1", "2"]
    tasks = [n["body"]["entry"][1] for n in hooks["/a/full"][1:]]
    assert [t["resource"]["status"] for t in tasks] == ["in-progress", "completed"]  # as it was at each event
    assert tasks[0]["fullUrl"] == f"http://testserver/Task/{task_a}"

    id_only = [n["body"]["entry"][1] for n in hooks["/a/ids"][1:]]
    assert len(id_only) == 2 and all("resource" not in e and e["fullUrl"].endswith(task_a) for e in id_only)
    assert len(hooks["/a/completed"]) == 2  # the handshake and the completed one only
    assert len(hooks["/b/hook"]) == 1  # B's subscription hears nothing of A's referral
    assert status_of(a, ids["id"])["events-since-subscription-start"] == "2"


def test_heartbeats_come_when_nothing_else_did(
    app: FastAPI,
    settings: Settings,
    httpserver: HTTPServer,
    hooks: dict[str, list[dict[str, Any]]],
    notifier: SubscriptionNotifier,
) -> None:
    a = obstetric(app, settings, ORG_A)
    subscribe(a, subscription(httpserver.url_for("/a/heart"), heartbeat=1))
    drain(notifier)
    assert len(hooks["/a/heart"]) == 1  # the handshake; no heartbeat right after it
    time.sleep(1.05)
    drain(notifier)
    assert [parameters(n["body"])["type"] for n in hooks["/a/heart"]] == ["handshake", "heartbeat"]


def test_failed_deliveries_put_it_in_error_and_a_restart_loses_nothing(
    app: FastAPI,
    settings: Settings,
    referral: dict[str, Any],
    store: Store,
    httpserver: HTTPServer,
    notifier: SubscriptionNotifier,
) -> None:
    answer = {"status": 200}
    got: list[dict[str, Any]] = []

    def flaky(request: Request) -> Response:
        got.append(json.loads(request.data))
        return Response("", status=answer["status"])

    httpserver.expect_request("/a/flaky", method="POST").respond_with_handler(flaky)
    a, jgz = obstetric(app, settings, ORG_A), client_as(app, settings)
    assert post_referral(a, referral).status_code == 200
    sub = subscribe(a, subscription(httpserver.url_for("/a/flaky")))
    drain(notifier)
    assert status_of(a, sub["id"])["status"] == "active"

    answer["status"] = 503
    move(jgz, referral_task(a), "in-progress")
    drain(notifier)
    assert len(got) == 1 + QUICK.max_attempts  # the handshake, then every try of the event
    status = status_of(a, sub["id"])
    assert status["status"] == "error"
    assert "503" in status["error"]["text"]
    current = a.get(f"/Subscription/{sub['id']}").json()
    assert current["status"] == "error" and "503" in current["error"]
    assert Outbox(store).counts()["dead"] == 1

    answer["status"] = 200
    current["status"] = "requested"
    r = a.put(f"/Subscription/{sub['id']}", content=json.dumps(current), headers=versioned(current))
    assert r.status_code == 200, r.text
    drain(notifier)
    kinds = [parameters(n)["type"] for n in got[-2:]]
    assert kinds == ["handshake", "event-notification"]  # restarted, and the event that failed came after all
    assert status_of(a, sub["id"])["status"] == "active"
    assert Outbox(store).counts()["dead"] == 0


def test_off_stops_the_notifications(
    app: FastAPI,
    settings: Settings,
    referral: dict[str, Any],
    httpserver: HTTPServer,
    hooks: dict[str, list[dict[str, Any]]],
    notifier: SubscriptionNotifier,
    store: Store,
) -> None:
    a, jgz = obstetric(app, settings, ORG_A), client_as(app, settings)
    assert post_referral(a, referral).status_code == 200
    sub = subscribe(a, subscription(httpserver.url_for("/a/ids")))
    drain(notifier)
    move(jgz, referral_task(a), "in-progress")  # queued ...
    current = a.get(f"/Subscription/{sub['id']}").json()
    current["status"] = "off"
    assert (
        a.put(
            f"/Subscription/{sub['id']}", content=json.dumps(current), headers=versioned(current)
        ).status_code
        == 200
    )
    drain(notifier)  # ... and settled without being sent
    assert len(hooks["/a/ids"]) == 1
    assert Outbox(store).counts()["pending"] == 0


@pytest.mark.parametrize(
    ("change", "status", "element"),
    [
        ({"criteria": "Task?status=accepted"}, 422, "Subscription.criteria"),
        (
            {"channel": {"type": "websocket", "endpoint": "https://x.example/h"}},
            422,
            "Subscription.channel.type",
        ),
        (
            {"channel": {"type": "rest-hook", "endpoint": "ftp://x.example/h"}},
            422,
            "Subscription.channel.endpoint",
        ),
        (
            {
                "_criteria": {
                    "extension": [
                        {
                            "url": f"{BACKPORT}/backport-filter-criteria",
                            "valueString": "Task?authored-on=2026",
                        }
                    ]
                }
            },
            422,
            "Subscription.criteria.extension",
        ),
        ({"status": "error"}, 422, "Subscription.status"),
    ],
)
def test_a_subscription_this_server_cannot_keep_is_refused(
    app: FastAPI, settings: Settings, change: dict[str, Any], status: int, element: str
) -> None:
    r = obstetric(app, settings, ORG_A).post(
        "/Subscription",
        content=json.dumps({**subscription("https://x.example/h"), **change}),
        headers=FHIR_JSON_HEADERS,
    )
    assert r.status_code == status, r.text
    assert element in r.json()["issue"][0]["expression"]


def test_https_is_required_unless_allowed(app: FastAPI, store: Store, tmp_path: Path) -> None:
    strict = exchange_settings(tmp_path, None)
    r = obstetric(create_app(strict, store), strict, ORG_A).post(
        "/Subscription", content=json.dumps(subscription("http://127.0.0.1:9/h")), headers=FHIR_JSON_HEADERS
    )
    assert r.status_code == 422 and "https" in r.json()["issue"][0]["diagnostics"]


def test_only_a_sender_organisation_subscribes(app: FastAPI, settings: Settings) -> None:
    body = json.dumps(subscription("https://x.example/h"))
    assert (
        client_as(app, settings).post("/Subscription", content=body, headers=FHIR_JSON_HEADERS).status_code
        == 403
    )
    consult = client_as(
        app, settings, role="consult", organization="http://fhir.nl/fhir/NamingSystem/ura|00000001"
    )
    assert consult.post("/Subscription", content=body, headers=FHIR_JSON_HEADERS).status_code == 403


# --- server-side request forgery: a token holder names the endpoint, not a place in our network -------
OWN_NETWORK = [
    "https://127.0.0.1:8443/h",
    "https://localhost/h",
    "https://api.localhost/h",
    "https://10.1.2.3/h",
    "https://172.16.0.9/h",
    "https://192.168.0.10/h",
    "https://169.254.169.254/latest/meta-data",  # a cloud's instance metadata
    "https://100.64.0.1/h",  # carrier-grade NAT
    "https://0.0.0.0/h",
    "https://[::1]/h",
    "https://[fe80::1]/h",
    "https://[fd00::7]/h",
    "https://[::ffff:127.0.0.1]/h",
]


@pytest.mark.parametrize("endpoint", OWN_NETWORK)
def test_an_endpoint_in_the_servers_own_network_is_refused(
    store: Store, tmp_path: Path, endpoint: str
) -> None:
    strict = exchange_settings(tmp_path, None)  # VOORZORG_SUBSCRIPTION_ALLOW_PRIVATE unset
    sender = obstetric(create_app(strict, store), strict, ORG_A)
    r = sender.post("/Subscription", content=json.dumps(subscription(endpoint)), headers=FHIR_JSON_HEADERS)
    assert r.status_code == 422, r.text
    issue = r.json()["issue"][0]
    assert issue["expression"] == ["Subscription.channel.endpoint"]
    assert "private or link-local" in issue["diagnostics"]
    assert sender.get("/Subscription").json()["total"] == 0


def test_a_public_address_is_taken(store: Store, tmp_path: Path) -> None:
    strict = exchange_settings(tmp_path, None)
    sender = obstetric(create_app(strict, store), strict, ORG_A)
    body = json.dumps(subscription("https://93.184.215.14/hooks/voorzorg"))
    assert sender.post("/Subscription", content=body, headers=FHIR_JSON_HEADERS).status_code == 201


def test_nothing_is_sent_where_the_endpoint_resolves_into_the_network(
    store: Store, app: FastAPI, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A name that pointed elsewhere when the Subscription was made, and resolves to a private address
    when the notifier sends: the handshake is not sent, the Subscription goes to error saying why."""
    real = socket.getaddrinfo

    def resolve(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "hooks.dewieg.example.nl":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.7", port))]
        return real(host, port, *args, **kwargs)

    made = subscribe(obstetric(app, settings, ORG_A), subscription("https://hooks.dewieg.example.nl/hook"))
    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    strict = replace(settings, subscription_allow_private=False)
    notifier = SubscriptionNotifier(store, strict, worker_settings=QUICK, retry=RetryPolicy(retries=0))
    drain(notifier)
    status = status_of(obstetric(app, settings, ORG_A), made["id"])
    assert status["status"] == "error"
    assert "resolves to a loopback, private or link-local address" in str(status.get("error"))
