"""Subscriptions for referral senders: the R4 topic-based Subscriptions backport, channel rest-hook.

A practice that sends referrals and runs no FHIR server of its own need not poll for its Task's status
(as Gravity SDOH recommends for Task status): it creates a Subscription to the topic
`https://fhir.voorzorg.nl/SubscriptionTopic/referral-task-status`, optionally narrowed by
`backport-filter-criteria` (`Task?status=completed`, `Task?_id=…`), and gets a notification at its
endpoint for every change of a referral Task its organisation has a part in — never of another
practice's referrals.

    {"resourceType": "Subscription", "status": "requested", "reason": "...",
     "criteria": "https://fhir.voorzorg.nl/SubscriptionTopic/referral-task-status",
     "_criteria": {"extension": [{"url": ".../backport-filter-criteria",
                                  "valueString": "Task?status=completed"}]},
     "channel": {"type": "rest-hook", "endpoint": "https://ehr.example.nl/hooks/voorzorg",
                 "header": ["Authorization: Bearer ..."], "payload": "application/fhir+json",
                 "_payload": {"extension": [{"url": ".../backport-payload-content", "valueCode": "id-only"}]},
                 "extension": [{"url": ".../backport-heartbeat-period", "valueUnsignedInt": 3600}]}}

How it travels:
- every change of a referral Task is an *event*: the flow `subscriptions` (mappings/exchange.yaml, route
  `subscribers` below) numbers it per Subscription (`events-since-subscription-start`, counted in the same
  transaction as the change) and queues it in the outbox like every other message — to the peer
  `subscription/{id}`, in order per client, retried with backoff, dead after the outbox's attempts;
- a delivery of kind `rest-hook` POSTs the notification Bundle (type history: the SubscriptionStatus as
  Parameters, then the Task — id-only: its URL; full-resource: the Task as it was at the event; empty:
  nothing) to the endpoint with the channel's headers (adapter/exchange/notifier.py runs it);
- the handshake (when the Subscription is made or restarted) and the heartbeats (`heartbeatPeriod` after the
  last notification) carry no client data and nothing that is worth sending late: the notifier sends them
  directly. A handshake that fails, or an event that ends dead, puts the Subscription in status `error`
  (with `error` saying why); events go on being counted and queued, and a PUT with status `requested`
  restarts it: a new handshake, then the dead notifications are tried again — none is lost.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from adapter.config import CANONICAL_BASE
from adapter.data import search_parameters
from adapter.exchange.client import FhirClient, PeerError
from adapter.exchange.delivery import Delivered, Delivery, DeliveryContext, request_id
from adapter.exchange.endpoints import EndpointPolicy
from adapter.exchange.feedback import is_referral_task
from adapter.exchange.outbox import Message
from adapter.exchange.peers import Peer
from adapter.exchange.routing import Flow, Planned
from adapter.fhir.dates import now_instant
from adapter.fhir.outcome import Issue
from adapter.fhir.subject import client_of
from adapter.store.indexing import index_rows
from adapter.store.session import Session, Stored

TOPIC = f"{CANONICAL_BASE}/SubscriptionTopic/referral-task-status"
BACKPORT = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition"
FILTER = f"{BACKPORT}/backport-filter-criteria"
CONTENT = f"{BACKPORT}/backport-payload-content"
HEARTBEAT = f"{BACKPORT}/backport-heartbeat-period"
TIMEOUT = f"{BACKPORT}/backport-timeout"
STATUS_PROFILE = f"{BACKPORT}/backport-subscription-status-r4"
NOTIFICATION_PROFILE = f"{BACKPORT}/backport-subscription-notification-r4"
ROUTE = "subscribers"
KIND = "rest-hook"
FLOW = "subscriptions"
PEER_PREFIX = "subscription/"
CONTENTS = ("empty", "id-only", "full-resource")
#: The statuses a subscriber may set; `active` and `error` are the server's to give.
SETTABLE = ("requested", "off")
#: Task search parameters a filter may use: exact matches on what the index holds.
FILTERABLE_TYPES = ("token", "reference")


@dataclass(frozen=True)
class Channel:
    """What the server needs of a Subscription to notify it."""

    sub_id: str
    status: str
    endpoint: str
    headers: tuple[tuple[str, str], ...]
    content: str
    heartbeat: int | None
    timeout: float
    filters: tuple[tuple[str, str], ...]
    end: str | None

    @property
    def peer(self) -> str:
        return PEER_PREFIX + self.sub_id

    def ended(self, now: str) -> bool:
        return self.end is not None and self.end < now

    def as_peer(self, max_attempts: int) -> Peer:
        base, _, _ = _split(self.endpoint)
        return Peer(self.peer, base, timeout=self.timeout, retries=1, max_attempts=max_attempts)


def _ext(element: Any, url: str) -> Any:
    for e in (element or {}).get("extension", []) if isinstance(element, dict) else []:
        if isinstance(e, dict) and e.get("url") == url:
            return next((v for k, v in e.items() if k.startswith("value")), None)
    return None


def _exts(element: Any, url: str) -> list[Any]:
    found = (element or {}).get("extension", []) if isinstance(element, dict) else []
    return [
        next((v for k, v in e.items() if k.startswith("value")), None) for e in found if e.get("url") == url
    ]


def channel_of(stored: Stored) -> Channel:
    sub = stored.content
    ch = sub.get("channel") or {}
    headers = []
    for h in ch.get("header") or []:
        name, sep, value = str(h).partition(":")
        if sep:
            headers.append((name.strip(), value.strip()))
    filters: list[tuple[str, str]] = []
    for f in _exts(sub.get("_criteria"), FILTER):
        filters += parse_qsl(str(f).partition("?")[2], keep_blank_values=True)
    timeout = _ext(ch, TIMEOUT)
    return Channel(
        sub_id=stored.res_id,
        status=str(sub.get("status", "")),
        endpoint=str(ch.get("endpoint", "")),
        headers=tuple(headers),
        content=str(_ext(ch.get("_payload"), CONTENT) or ("id-only" if ch.get("payload") else "empty")),
        heartbeat=_ext(ch, HEARTBEAT),
        timeout=float(timeout) if timeout else 10.0,
        filters=tuple(filters),
        end=sub.get("end"),
    )


# --- what a subscriber may ask for ----------------------------------------------------------------
def problems(sub: dict[str, Any], *, endpoints: EndpointPolicy) -> list[Issue]:
    """What keeps this Subscription from being one this server can keep (422), each with its element."""
    out: list[Issue] = []
    if sub.get("criteria") != TOPIC:
        out.append(Issue(f"criteria must be the topic {TOPIC}", ("Subscription.criteria",), "not-supported"))
    for f in _exts(sub.get("_criteria"), FILTER):
        out += _filter_problems(str(f))
    ch = sub.get("channel") or {}
    if ch.get("type") != "rest-hook":
        out.append(
            Issue("only channel type rest-hook is supported", ("Subscription.channel.type",), "not-supported")
        )
    endpoint_problem = endpoints.problem(str(ch.get("endpoint") or ""))
    if endpoint_problem:
        out.append(Issue(endpoint_problem, ("Subscription.channel.endpoint",), "value"))
    if ch.get("payload") not in (None, "application/fhir+json", "application/json"):
        out.append(
            Issue("payload must be application/fhir+json", ("Subscription.channel.payload",), "not-supported")
        )
    content = _ext(ch.get("_payload"), CONTENT)
    if content is not None and content not in CONTENTS:
        out.append(
            Issue(f"payload content is one of {', '.join(CONTENTS)}", ("Subscription.channel.payload",))
        )
    for h in ch.get("header") or []:
        if ":" not in str(h):
            out.append(Issue(f"header {h!r} is not 'Name: value'", ("Subscription.channel.header",)))
    if sub.get("status") not in (*SETTABLE, "active"):
        out.append(Issue(f"status is one of {', '.join(SETTABLE)}", ("Subscription.status",), "value"))
    return out


def _filter_problems(raw: str) -> list[Issue]:
    where = ("Subscription.criteria.extension",)
    resource, _, query = raw.partition("?")
    if resource != "Task":
        return [
            Issue(f"filter {raw!r}: the topic's resource is Task (Task?status=...)", where, "not-supported")
        ]
    params = search_parameters()["Task"]
    out = []
    for name, value in parse_qsl(query, keep_blank_values=True):
        known = name == "_id" or (name in params and params[name]["type"] in FILTERABLE_TYPES)
        if not known or not value:
            allowed = ", ".join(["_id", *(n for n, p in params.items() if p["type"] in FILTERABLE_TYPES)])
            out.append(Issue(f"filter {raw!r}: {name!r} is not one of {allowed}", where, "not-supported"))
    return out


# --- which events go where -------------------------------------------------------------------------
def matches(channel: Channel, task: Stored) -> bool:
    """Whether the Task passes the Subscription's filters (each filter ANDed, comma values ORed)."""
    rows = index_rows(task.content)
    for name, value in channel.filters:
        wanted = value.split(",")
        if name == "_id":
            ok = task.res_id in wanted
        else:
            ok = any(r.param == name and _same(r.system, r.value, w) for r in rows for w in wanted)
        if not ok:
            return False
    return True


def _same(system: str | None, value: str | None, wanted: str) -> bool:
    if "|" in wanted:
        s, _, v = wanted.partition("|")
        return value == v and (system or "") == s
    return value == wanted


def route(s: Session, flow: Flow, written: list[Stored], peers: Mapping[str, Peer]) -> list[Planned]:
    """The event notifications a unit of work's referral Task changes call for, numbered per
    Subscription: to each live Subscription of an organisation that has a part in the Task."""
    tasks = [t for t in written if not t.deleted and is_referral_task(t)]
    if not tasks:
        return []
    now = now_instant()
    live = [channel_of(x) for x in s.find("Subscription", status=("requested", "active", "error"))]
    channels = [c for c in live if not c.ended(now)]
    if not channels:
        return []
    owners = {c.sub_id: set(s.organizations_with_access("Subscription", c.sub_id)) for c in channels}
    out: list[Planned] = []
    for task in tasks:
        client = client_of(task.content)
        granted = set(s.organizations_with_access("Task", task.res_id))
        for c in channels:
            if client is None or not owners[c.sub_id] & granted or not matches(c, task):
                continue
            event = s.subscriptions.next_event(c.sub_id)
            entry = {"type": "Task", "id": task.res_id, "method": "PUT", "resource": task.content}
            extra = {"subscription": c.sub_id, "event": event, "timestamp": now}
            out.append(Planned(flow, client, [entry], peer=c.peer, extra=extra))
    return out


# --- the notifications -----------------------------------------------------------------------------
def status_parameters(
    base: str, channel: Channel, kind: str, events: int, event: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The backport's SubscriptionStatus, as R4 Parameters."""
    params: list[dict[str, Any]] = [
        {"name": "subscription", "valueReference": {"reference": f"{base}/Subscription/{channel.sub_id}"}},
        {"name": "topic", "valueCanonical": TOPIC},
        {"name": "status", "valueCode": channel.status},
        {"name": "type", "valueCode": kind},
        {"name": "events-since-subscription-start", "valueString": str(events)},
    ]
    if event is not None:
        part: list[dict[str, Any]] = [
            {"name": "event-number", "valueString": str(event["event"])},
            {"name": "timestamp", "valueInstant": event["timestamp"]},
        ]
        if channel.content != "empty":
            part.append({"name": "focus", "valueReference": {"reference": f"{base}/Task/{event['task']}"}})
        params.append({"name": "notification-event", "part": part})
    return {"resourceType": "Parameters", "meta": {"profile": [STATUS_PROFILE]}, "parameter": params}


def notification(
    base: str,
    channel: Channel,
    kind: str,
    events: int,
    event: dict[str, Any] | None = None,
    task: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The notification Bundle (type history): the status first, then the Task as the payload says."""
    status = status_parameters(base, channel, kind, events, event)
    entries: list[dict[str, Any]] = [
        {
            "fullUrl": f"urn:uuid:{_uuid()}",
            "resource": status,
            "request": {"method": "GET", "url": f"{base}/Subscription/{channel.sub_id}/$status"},
            "response": {"status": "200"},
        }
    ]
    if event is not None and channel.content != "empty":
        entry: dict[str, Any] = {
            "fullUrl": f"{base}/Task/{event['task']}",
            "request": {"method": "PUT", "url": f"Task/{event['task']}"},
            "response": {"status": "200"},
        }
        if channel.content == "full-resource" and task is not None:
            entry["resource"] = task
        entries.append(entry)
    return {
        "resourceType": "Bundle",
        "meta": {"profile": [NOTIFICATION_PROFILE]},
        "type": "history",
        "timestamp": now_instant(),
        "entry": entries,
    }


def _uuid() -> str:
    return str(uuid.uuid4())


def _split(endpoint: str) -> tuple[str, str, dict[str, str]]:
    """An endpoint as (base, last path segment, query): the FHIR client joins base and path itself."""
    parts = urlsplit(endpoint)
    head, _, last = parts.path.rpartition("/")
    return f"{parts.scheme}://{parts.netloc}{head}", last, dict(parse_qsl(parts.query))


def post(
    client: FhirClient, channel: Channel, bundle: dict[str, Any], request: str, endpoints: EndpointPolicy
) -> None:
    """POST a notification to the endpoint, with the channel's headers; PeerError when it is refused, or
    when the endpoint now resolves into this server's own network (never sent there)."""
    refused = endpoints.refused_at_send(channel.endpoint)
    if refused:
        raise PeerError(refused, transient=False)
    _, path, query = _split(channel.endpoint)
    headers = {**dict(channel.headers), "X-Request-Id": request}
    client.request("POST", path, body=bundle, headers=headers, params=query)


def delivery(base: str, sent: Callable[[str], None], endpoints: EndpointPolicy) -> Delivery:
    """The `rest-hook` delivery: an event notification for a message of the flow `subscriptions`.
    `sent(sub_id)` records that something reached the endpoint (the heartbeat counts from there)."""

    def deliver(ctx: DeliveryContext, message: Message) -> Delivered:
        sub_id = str(message.payload["subscription"])
        with ctx.outbox.store.reading() as s:
            stored = s.get("Subscription", sub_id)
        if stored is None or stored.deleted or stored.content.get("status") == "off":
            return Delivered([], f"not sent: Subscription/{sub_id} is off")
        channel = channel_of(stored)
        entry = message.payload["entries"][0]
        event = {
            "event": message.payload["event"],
            "timestamp": message.payload["timestamp"],
            "task": entry["id"],
        }
        bundle = notification(
            base, channel, "event-notification", int(event["event"]), event, entry["resource"]
        )
        post(ctx.client, channel, bundle, request_id(message), endpoints)  # PeerError: tried again later
        sent(sub_id)
        return Delivered([], f"event {event['event']} to Subscription/{sub_id}", [f"Task/{entry['id']}"])

    return deliver
