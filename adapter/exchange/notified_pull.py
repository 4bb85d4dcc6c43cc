"""Notified pull (the Dutch Generic Functions / Twiin pattern): a sender tells us that a referral is
ready; we fetch it from the sender, take it in, and keep the sender's own Task up to date.

The notification is a thin Task, as Twiin's TA Notified Pull has it (there in STU3, here in R4), POSTed to
`[base]/Task` (adapter/api/notifications.py) by the sending practice with its own token:

    {"resourceType": "Task", "status": "requested", "intent": "proposal",
     "code": {"coding": [{"system": "http://fhir.nl/fhir/NamingSystem/TaskCode",
                          "code": "pull-notification"}]},
     "identifier": [{"system": "urn:ietf:rfc:3986", "value": "urn:uuid:…"}],
     "focus": {"reference": "ServiceRequest/123"},      # the referral, on the sender's server
     "basedOn": [{"reference": "Task/456"}],             # the sender's workflow Task (optional)
     "requester": {"identifier": {"system": "http://fhir.nl/fhir/NamingSystem/agb-z", "value": "…"}},
     "owner": {"identifier": {"system": "http://fhir.nl/fhir/NamingSystem/ura", "value": "<ours>"}},
     "input": [{"type": {"coding": [{"system": "http://fhir.nl/fhir/NamingSystem/TaskParameter",
                                     "code": "get-workflow-task"}]}, "valueBoolean": true}]}

`focus` (or an input `read-available-resource` naming a ServiceRequest) is the referral; `basedOn` (or
`get-workflow-task` true with `basedOn`) the sender's workflow Task; more inputs `read-available-resource`
name resources to read too. `read_notification` checks it (422 naming the element); `fetch_referral` reads
from the sender — with the sender's peer entry and token (`adapter.exchange.client`), only from the
sender's own base URL — the ServiceRequest, the workflow Task and, transitively, what they reference of
the types a referral holds (the client, the requester, supportingInfo Observations and their members,
Consents, organisations and practitioners); references to anything else, or to other servers, become
logical ones and are not followed. Out comes the referral transaction Bundle intake takes
(`adapter.workflows.intake.intake_referral` after `read_referral`), the sender's workflow Task as its
Task, carrying the Task's URL as an identifier (system urn:ietf:rfc:3986) — which is how the obstetric
feedback (`adapter.exchange.feedback`) knows to update that very Task at the sender, through the outbox.

The `authorization-base` input is Twiin's (and Nuts') handle for an authorisation credential; this
adapter authenticates to the sender with the peer's own configuration (client credentials or SMART
Backend Services), so it is accepted and not used.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from adapter.data import referral_codes
from adapter.exchange.client import FhirClient, PeerError
from adapter.exchange.feedback import sender_task_identifier
from adapter.fhir.outcome import FhirError, Issue
from adapter.fhir.references import walk_references

TASK_CODE_SYSTEM = "http://fhir.nl/fhir/NamingSystem/TaskCode"
PULL_NOTIFICATION = "pull-notification"
PARAMETER_SYSTEM = "http://fhir.nl/fhir/NamingSystem/TaskParameter"
#: At most this many resources are read for one referral (a referral holds about ten).
MAX_RESOURCES = 100


@dataclass(frozen=True)
class Notification:
    referral: str  # "ServiceRequest/{id}" at the sender
    workflow_task: str | None  # "Task/{id}" at the sender
    reads: tuple[str, ...] = ()  # more "Type/id" the sender makes available
    requester: str | None = None  # "system|value" the notification names as its sender
    identifier: tuple[str, str] | None = None


def is_notification(task: dict[str, Any]) -> bool:
    return any(
        c.get("system") == TASK_CODE_SYSTEM and c.get("code") == PULL_NOTIFICATION
        for c in (task.get("code") or {}).get("coding", [])
        if isinstance(c, dict)
    )


def read_notification(task: dict[str, Any], our_organization: str) -> Notification:
    """The notification's parts; FhirError 422 naming every element that is wrong."""
    _must_be_a_notification(task)
    issues: list[Issue] = []
    if task.get("status") != "requested":
        issues.append(
            Issue(
                f"A notification has status 'requested', not {task.get('status')!r}",
                ("Task.status",),
                "value",
            )
        )
    reads = [r for r in map(_relative, _inputs(task, "read-available-resource")) if r]
    referral = _referral(task, reads, issues)
    workflow = _workflow_task(task, issues)
    owner = _identifier((task.get("owner") or {}).get("identifier"))
    if owner is not None and owner != our_organization:
        issues.append(
            Issue(f"This notification is for {owner}, not for us", ("Task.owner",), "business-rule")
        )
    if issues or referral is None:
        raise FhirError(422, issues)
    ident = next((i for i in task.get("identifier", []) if i.get("system") and i.get("value")), None)
    return Notification(
        referral=referral,
        workflow_task=workflow,
        reads=tuple(r for r in reads if r != referral),
        requester=_identifier((task.get("requester") or {}).get("identifier")),
        identifier=(str(ident["system"]), str(ident["value"])) if ident else None,
    )


def _must_be_a_notification(task: dict[str, Any]) -> None:
    if task.get("resourceType") != "Task":
        raise FhirError.one(400, f"A Task is expected, not {task.get('resourceType')}", "resourceType")
    if not is_notification(task):
        raise FhirError.one(
            422,
            f"POST /Task takes a notified-pull notification only: Task.code {TASK_CODE_SYSTEM}#"
            f"{PULL_NOTIFICATION}; a referral is sent as a transaction Bundle (POST [base])",
            "Task.code",
            code="not-supported",
        )


def _input_values(task: dict[str, Any], code: str) -> list[dict[str, Any]]:
    """The Task's inputs of one TaskParameter type."""
    return [
        i
        for i in task.get("input", [])
        if isinstance(i, dict)
        and any(
            c.get("system") == PARAMETER_SYSTEM and c.get("code") == code
            for c in (i.get("type") or {}).get("coding", [])
            if isinstance(c, dict)
        )
    ]


def _inputs(task: dict[str, Any], code: str) -> list[str]:
    """The references (or strings) the inputs of one TaskParameter type name."""
    return [
        str(i.get("valueString") or (i.get("valueReference") or {}).get("reference") or "")
        for i in _input_values(task, code)
    ]


def _referral(task: dict[str, Any], reads: list[str], issues: list[Issue]) -> str | None:
    """The referral: the Task's focus, else a ServiceRequest it makes available to read."""
    referral = _relative((task.get("focus") or {}).get("reference"))
    if referral is None:
        referral = next((r for r in reads if r.startswith("ServiceRequest/")), None)
    if referral is None or not referral.startswith("ServiceRequest/"):
        issues.append(
            Issue(
                "The notification names the referral in focus: a ServiceRequest on the sender's server",
                ("Task.focus",),
                "required",
            )
        )
        return None
    return referral


def _workflow_task(task: dict[str, Any], issues: list[Issue]) -> str | None:
    """The sender's workflow Task the notification is based on (at most one)."""
    based_on = [_relative(b.get("reference")) for b in task.get("basedOn", []) if isinstance(b, dict)]
    workflow = [b for b in based_on if b and b.startswith("Task/")]
    if len(workflow) > 1:
        issues.append(Issue("A notification is based on one workflow Task at most", ("Task.basedOn",)))
    wants_task = any(i.get("valueBoolean") is True for i in _input_values(task, "get-workflow-task"))
    if wants_task and not workflow:
        issues.append(
            Issue("get-workflow-task is true, but basedOn names no Task", ("Task.basedOn",), "required")
        )
    return workflow[0] if workflow else None


def _relative(ref: Any) -> str | None:
    """`Type/id` of a relative reference (a version part dropped); None for anything else."""
    if not isinstance(ref, str):
        return None
    parts = ref.split("/")
    if len(parts) in (2, 4) and parts[0][:1].isupper() and parts[1] and ":" not in ref:
        return f"{parts[0]}/{parts[1]}"
    return None


def _type_in_url(ref: str) -> str | None:
    """The resource type an absolute URL names (`…/Practitioner/1`, `…/Practitioner/1/_history/2`)."""
    parts = [p for p in ref.split("?", maxsplit=1)[0].split("/") if p]
    if len(parts) >= 4 and parts[-2] == "_history":
        parts = parts[:-2]
    return parts[-2] if len(parts) >= 2 and parts[-2][:1].isupper() and ":" in ref else None


def _identifier(value: Any) -> str | None:
    if isinstance(value, dict) and value.get("system") and value.get("value"):
        return f"{value['system']}|{value['value']}"
    return None


# --- fetching from the sender -----------------------------------------------------------------------
@dataclass
class Fetched:
    bundle: dict[str, Any]  # the referral transaction Bundle for intake
    read: list[str] = field(default_factory=list)  # "Type/id" read at the sender, in order


def fetch_referral(
    client: FhirClient, base_url: str, notification: Notification, limit: int = MAX_RESOURCES
) -> Fetched:
    """Read the referral and what it references from the sender; PeerError when the sender fails us,
    FhirError 422 when what it holds cannot make a referral."""
    base = base_url.rstrip("/")
    followed = set(referral_codes()["accepted_types"]) - {"Task", "ServiceRequest"}  # one of each
    got: dict[str, dict[str, Any]] = {}
    queue = [notification.referral, *([notification.workflow_task] if notification.workflow_task else [])]
    queue += [r for r in notification.reads if r.split("/")[0] in followed]
    while queue:
        ref = queue.pop(0)
        if ref in got:
            continue
        if len(got) >= limit:
            raise FhirError.one(422, f"The referral at the sender references more than {limit} resources")
        res_type, res_id = ref.split("/")
        try:
            body, _ = client.read(res_type, res_id)
        except PeerError as e:
            if e.status in (404, 410):
                raise FhirError.one(
                    422, f"{ref} could not be read at the sender (HTTP {e.status})", code="not-found"
                ) from None
            raise
        if body.get("resourceType") != res_type:
            raise FhirError.one(422, f"The sender answered {ref} with a {body.get('resourceType')}")
        resource = copy.deepcopy(body)
        resource["id"] = res_id
        meta = {
            k: v for k, v in (resource.get("meta") or {}).items() if k not in ("versionId", "lastUpdated")
        }
        resource.pop("meta", None)
        if meta:
            resource["meta"] = meta
        queue += [r for r in _localise(resource, base, followed) if r not in got]
        got[ref] = resource
    return Fetched(_bundle(got, base, notification), list(got))


def _localise(value: Any, base: str, followed: set[str]) -> list[str]:
    """Make references relative to the sender's base; the ones not followed logical. What to read next."""
    out: list[str] = []

    def localise(holder: dict[str, Any], ref: str, _path: str) -> None:
        if ref.startswith("#"):
            return
        local = _relative(ref[len(base) + 1 :] if ref.startswith(base + "/") else ref)
        kind = local.split("/")[0] if local else _type_in_url(ref)
        if local and kind in followed:
            holder["reference"] = local
            out.append(local)
        elif local and kind in ("ServiceRequest", "Task"):
            holder["reference"] = local  # the referral and its Task themselves: in the Bundle
        else:  # not ours to take, or on another server: kept as a logical reference
            del holder["reference"]
            if kind:
                holder.setdefault("type", kind)
            holder.setdefault("display", ref)

    walk_references(value, localise)
    return out


def _bundle(got: dict[str, dict[str, Any]], base: str, notification: Notification) -> dict[str, Any]:
    referral = got[notification.referral]
    known = set(got)
    for resource in got.values():  # a Task or ServiceRequest we did not read stays logical
        _unresolved(resource, known)
    if notification.workflow_task in got:
        task = got[notification.workflow_task]
        idents = task.setdefault("identifier", [])
        mine = sender_task_identifier(base, task["id"])
        if mine not in idents:
            idents.append(mine)
        task["focus"] = {"reference": notification.referral}
        for element, source in (("for", "subject"), ("requester", "requester")):
            if element not in task and source in referral:
                task[element] = copy.deepcopy(referral[source])
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"fullUrl": f"{base}/{ref}", "resource": r, "request": {"method": "PUT", "url": ref}}
            for ref, r in got.items()
        ],
    }


def _unresolved(value: Any, known: set[str]) -> None:
    """References to what was not read become logical ones (type and display)."""

    def logical(holder: dict[str, Any], ref: str, _path: str) -> None:
        if not ref.startswith("#") and ref not in known:
            del holder["reference"]
            holder.setdefault("type", ref.split("/", maxsplit=1)[0])
            holder.setdefault("display", ref)

    walk_references(value, logical)
