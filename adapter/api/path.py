"""The client's path: the intake visit, ending her programme, and the warm handover when she moves.

    POST /ServiceRequest/{id}/$intake-visit   Parameters: visit (Encounter), finding (Observation)*
    POST /EpisodeOfCare/{id}/$end              Parameters: date, reason (voorzorg-ending-reason), note?
    POST /EpisodeOfCare/{id}/$transfer         Parameters: destination (Identifier), date, consent
    POST /$process-message                     a transfer message from another VoorZorg adapter

Each is the JGZ's step (access-policy.yaml `operations`) and one transaction; bad input is a 4xx
OperationOutcome naming the element, and nothing is stored.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from adapter.api.context import accept_checked, ctx, read_fhir_body
from adapter.api.guard import access, patient_of, principal, require, viewer, writer
from adapter.api.responses import FhirResponse, resource_response
from adapter.config import CANONICAL_BASE
from adapter.data import codesystem_codes, operation_roles, own_system
from adapter.domain.programme import EndingReason
from adapter.fhir.dates import now_instant
from adapter.fhir.outcome import FhirError
from adapter.mapping.decision_out import coding
from adapter.mapping.transfer_out import TRANSFER_SYSTEM
from adapter.security.scopes import CREATE, READ, UPDATE
from adapter.store.session import Stored
from adapter.workflows.intake_visit import read_request, record_intake_visit
from adapter.workflows.programme import end
from adapter.workflows.transfer import Transfer, read_message, receive, send

router = APIRouter(dependencies=[Depends(accept_checked)])

INTAKE_VISIT = f"{CANONICAL_BASE}/OperationDefinition/intake-visit"
END = f"{CANONICAL_BASE}/OperationDefinition/end-programme"
TRANSFER = f"{CANONICAL_BASE}/OperationDefinition/transfer-programme"
#: The operations per resource type, for the CapabilityStatement.
OPERATIONS = {
    "ServiceRequest": [{"name": "intake-visit", "definition": INTAKE_VISIT}],
    "EpisodeOfCare": [{"name": "end", "definition": END}, {"name": "transfer", "definition": TRANSFER}],
}
ENDING_SYSTEM = own_system("voorzorg-ending-reason")


def _may(request: Request, operation: str) -> None:
    role = principal(request).role
    if role not in operation_roles().get(operation, []):
        raise FhirError.one(403, f"The role {role!r} may not call ${operation}", code="forbidden")


def _touched(request: Request, *found: Stored | None) -> None:
    for stored in found:
        if stored is not None:
            access(request).touched(stored.reference, patient_of(stored))


@router.post("/ServiceRequest/{referral_id}/$intake-visit")
async def intake_visit(referral_id: str, request: Request) -> FhirResponse:
    """The nurse's intake visit and its findings: the referral decided again, her programme follows."""
    _may(request, "intake-visit")
    for rtype, permission in (
        ("Encounter", CREATE),
        ("Observation", CREATE),
        ("Task", UPDATE),
        ("CarePlan", UPDATE),
    ):
        require(request, rtype, permission)
    require(request, "ServiceRequest", READ)
    body = await read_fhir_body(request)
    parsed = await run_in_threadpool(read_request, body, referral_id)
    c = ctx(request)
    done = await run_in_threadpool(
        record_intake_visit, writer(request), viewer(request), referral_id, parsed, c.deployment
    )
    parts: list[tuple[str, Stored | None]] = [
        ("visit", done.encounter.stored),
        *(("finding", w.stored) for w in done.findings),
        ("decision", done.guidance),
        ("referralTask", done.task),
        ("carePlan", done.careplan),
        ("programme", done.programme),
        *(("consult", w.stored) for w in done.consult if w.stored.res_type == "Task"),
    ]
    _touched(request, *(r for _, r in parts))
    return FhirResponse(
        {
            "resourceType": "Parameters",
            "parameter": [{"name": n, "resource": r.content} for n, r in parts if r is not None],
        }
    )


@router.post("/EpisodeOfCare/{episode_id}/$end")
async def end_programme(episode_id: str, request: Request) -> FhirResponse:
    """The JGZ ends her programme on a date, for a reason: plan, referral Task and peers follow."""
    _may(request, "end-programme")
    require(request, "EpisodeOfCare", UPDATE)
    require(request, "CarePlan", UPDATE)
    require(request, "Task", UPDATE)
    on, reason, note = ending_parameters(await read_fhir_body(request))
    c = ctx(request)
    ended = await run_in_threadpool(
        end, writer(request), viewer(request), episode_id, reason, on, note, c.deployment.organization or None
    )
    _touched(request, *(w.stored for w in ended.written))
    return resource_response(ended.programme, c.base)


def ending_parameters(body: dict[str, Any]) -> tuple[date, EndingReason, str]:
    """`date` (valueDate, 1..1), `reason` (valueCoding of voorzorg-ending-reason, 1..1), `note` (0..1)."""
    if body.get("resourceType") != "Parameters":
        raise FhirError.one(400, "$end takes a Parameters resource (date, reason, note)", "resourceType")
    values = _by_name(body, {"date", "reason", "note"}, "$end")
    if "reason" not in values:
        raise FhirError.one(
            422,
            f"An ending needs its reason: a Coding of {ENDING_SYSTEM} "
            f"({', '.join(codesystem_codes('voorzorg-ending-reason'))})",
            "Parameters.parameter[reason]",
            code="required",
        )
    reason = _reason(values["reason"])
    if "date" not in values:
        raise FhirError.one(
            422, "An ending needs its date (valueDate)", "Parameters.parameter[date]", code="required"
        )
    raw = values["date"].get("valueDate")
    try:
        on = date.fromisoformat(str(raw))
    except ValueError:
        raise FhirError.one(
            422, f"{raw!r} is not a date (YYYY-MM-DD)", "Parameters.parameter[date]", code="value"
        ) from None
    note = values.get("note", {}).get("valueString", "")
    return on, reason, str(note)


def _by_name(body: dict[str, Any], names: set[str], operation: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for i, p in enumerate(body.get("parameter", [])):
        name = p.get("name")
        if name not in names:
            raise FhirError.one(
                400,
                f"Unknown parameter {name!r}: {operation} takes {', '.join(sorted(names))}",
                f"Parameters.parameter[{i}]",
            )
        if name in out:
            raise FhirError.one(400, f"{name} is given twice", f"Parameters.parameter[{i}]")
        out[name] = p
    return out


def _reason(param: dict[str, Any]) -> EndingReason:
    coding = param.get("valueCoding") or {}
    code = coding.get("code") or param.get("valueCode")
    system = coding.get("system", ENDING_SYSTEM) if coding else ENDING_SYSTEM
    try:
        if system != ENDING_SYSTEM:
            raise ValueError
        return EndingReason(str(code))
    except ValueError:
        raise FhirError.one(
            422,
            f"{system}#{code} is no ending reason of {ENDING_SYSTEM}",
            "Parameters.parameter[reason]",
            code="code-invalid",
        ) from None


@router.post("/EpisodeOfCare/{episode_id}/$transfer")
async def transfer_programme(episode_id: str, request: Request) -> FhirResponse:
    """She moves: with her consent, her programme goes to the JGZ of her new region (through the outbox)
    and ends here (reason moved)."""
    _may(request, "transfer")
    require(request, "EpisodeOfCare", UPDATE)
    require(request, "CarePlan", UPDATE)
    require(request, "Task", UPDATE)
    require(request, "Consent", READ)
    asked = transfer_parameters(await read_fhir_body(request))
    c = ctx(request)
    done = await run_in_threadpool(
        send, writer(request), viewer(request), episode_id, asked, c.exchange.peers, c.settings
    )
    _touched(request, done.programme, *done.carried)
    return FhirResponse(
        {
            "resourceType": "Parameters",
            "parameter": [
                {"name": "programme", "resource": done.programme.content},
                {"name": "message", "valueIdentifier": {"system": TRANSFER_SYSTEM, "value": done.message_id}},
                {"name": "peer", "valueString": done.peer},
                {"name": "outboxMessage", "valueInteger": done.outbox_id},
            ],
        }
    )


def transfer_parameters(body: dict[str, Any]) -> Transfer:
    """`destination` (valueIdentifier: the JGZ organisation of her new region), `date` (valueDate),
    `consent` (valueReference: her sharing consent to the handover, recipient jgz-transfer)."""
    if body.get("resourceType") != "Parameters":
        raise FhirError.one(
            400, "$transfer takes a Parameters resource (destination, date, consent)", "resourceType"
        )
    values = _by_name(body, {"destination", "date", "consent"}, "$transfer")
    consent = str((values.get("consent", {}).get("valueReference") or {}).get("reference", ""))
    if not consent:
        raise FhirError.one(
            422,
            "A handover needs her consent: valueReference to her sharing Consent (recipient jgz-transfer)",
            "Parameters.parameter[consent]",
            code="required",
        )
    ident = values.get("destination", {}).get("valueIdentifier") or {}
    if not ident.get("system") or not ident.get("value"):
        raise FhirError.one(
            422,
            "Name the JGZ organisation of her new region (valueIdentifier: URA)",
            "Parameters.parameter[destination]",
            code="required",
        )
    raw = values.get("date", {}).get("valueDate")
    try:
        on = date.fromisoformat(str(raw))
    except ValueError:
        raise FhirError.one(
            422, "The date of the handover (valueDate)", "Parameters.parameter[date]", code="required"
        ) from None
    return Transfer((str(ident["system"]), str(ident["value"])), on, consent)


@router.post("/$process-message")
async def process_message(request: Request) -> FhirResponse:
    """A message from another VoorZorg adapter: a warm handover (event client-transfer) takes her in as
    an ongoing client. Answers a response message (MessageHeader.response, code ok)."""
    _may(request, "process-message")
    for rtype in (
        "Patient",
        "ServiceRequest",
        "EpisodeOfCare",
        "CarePlan",
        "Task",
        "Encounter",
        "Observation",
    ):
        require(request, rtype, CREATE)
    body = await read_fhir_body(request)
    c = ctx(request)
    message = await run_in_threadpool(read_message, body, c.settings.organization)
    received = await run_in_threadpool(receive, writer(request), message, c.settings.organization)
    _touched(request, *received.written)
    return FhirResponse(
        response_message(message.header_id, received.programme, c.base),
        status_code=201 if received.taken_in else 200,
    )


def response_message(request_header: str, programme: Stored, base: str) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "message",
        "timestamp": now_instant(),
        "entry": [
            {
                "fullUrl": f"urn:uuid:{uuid.uuid4()}",
                "resource": {
                    "resourceType": "MessageHeader",
                    "eventCoding": coding("voorzorg-message-event", "client-transfer"),
                    "source": {"endpoint": base},
                    "response": {"identifier": request_header, "code": "ok"},
                    "focus": [{"reference": programme.reference}],
                },
            },
            {"fullUrl": f"{base}/{programme.reference}", "resource": programme.content},
        ],
    }


PROCESS_MESSAGE = "http://hl7.org/fhir/OperationDefinition/MessageHeader-process-message"


def _definition(
    op_id: str, code: str, resource: str, title: str, description: str, parameters: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "resourceType": "OperationDefinition",
        "id": op_id,
        "url": f"{CANONICAL_BASE}/OperationDefinition/{op_id}",
        "name": "".join(part.title() for part in op_id.split("-")),
        "title": title,
        "status": "active",
        "kind": "operation",
        "code": code,
        "resource": [resource],
        "system": False,
        "type": False,
        "instance": True,
        "affectsState": True,
        "description": description,
        "parameter": parameters,
    }


def _param(name: str, use: str, lo: int, hi: str, type_: str, doc: str = "") -> dict[str, Any]:
    p: dict[str, Any] = {"name": name, "use": use, "min": lo, "max": hi, "type": type_}
    return {**p, "documentation": doc} if doc else p


def definitions() -> list[dict[str, Any]]:
    """The OperationDefinitions of the client's path, for /OperationDefinition and the CapabilityStatement."""
    return [_intake_visit_definition(), _end_definition(), _transfer_definition()]


def _intake_visit_definition() -> dict[str, Any]:
    return _definition(
        "intake-visit",
        "intake-visit",
        "ServiceRequest",
        "Record the intake visit and decide again",
        "On a VoorZorg referral: stores the nurse's first home visit (Encounter, profile "
        "voorzorg-intake-visit) and its findings (Observations, profile voorzorg-intake-finding: "
        "voluntariness, forced framework, serious parenting problems, parity, pregnancy dating, her own "
        "yes or no), which outrank the referral; decides again with the same rules (decision, referral "
        "Task, care plan, consult request) and lets her programme follow: enrolled on the date of the "
        "visit, or ended (client-choice) when she says no. One transaction.",
        [
            _param("visit", "in", 1, "1", "Encounter"),
            _param("finding", "in", 0, "*", "Observation"),
            *(
                _param(n, "out", lo, hi, t)
                for n, lo, hi, t in (
                    ("visit", 1, "1", "Encounter"),
                    ("finding", 0, "*", "Observation"),
                    ("decision", 1, "1", "GuidanceResponse"),
                    ("referralTask", 1, "1", "Task"),
                    ("carePlan", 0, "1", "CarePlan"),
                    ("programme", 0, "1", "EpisodeOfCare"),
                    ("consult", 0, "*", "Task"),
                )
            ),
        ],
    )


def _end_definition() -> dict[str, Any]:
    return _definition(
        "end-programme",
        "end",
        "EpisodeOfCare",
        "End the programme, with a date and a reason",
        "On a programme (profile voorzorg-programme): it finishes (cancelled when she never enrolled) "
        "on the date, for the reason; her plans complete (reason completed) or are revoked, visits not "
        "done cancelled; the referral Task completes with the reason; open consult requests are "
        "cancelled. 422 without a reason or for a date before her enrolment; 409 when it ended already.",
        [
            _param("date", "in", 1, "1", "date"),
            _param("reason", "in", 1, "1", "Coding", "voorzorg-ending-reason"),
            _param("note", "in", 0, "1", "string"),
            _param("return", "out", 1, "1", "EpisodeOfCare"),
        ],
    )


def _transfer_definition() -> dict[str, Any]:
    return _definition(
        "transfer-programme",
        "transfer",
        "EpisodeOfCare",
        "Hand the programme over to the JGZ of her new region",
        "With her consent (a sharing consent, recipient jgz-transfer): the transfer message (client, "
        "programme, referral and decision, plan with the visits done and planned, visits, theme "
        "assessments and goals) goes through the outbox to the peer that is the destination "
        "organisation ($process-message there), and her programme here ends with reason moved.",
        [
            _param("destination", "in", 1, "1", "Identifier", "The JGZ organisation (URA)"),
            _param("date", "in", 1, "1", "date"),
            _param("consent", "in", 1, "1", "Reference", "Her sharing Consent (jgz-transfer)"),
            _param("programme", "out", 1, "1", "EpisodeOfCare"),
            _param("message", "out", 1, "1", "Identifier"),
        ],
    )
