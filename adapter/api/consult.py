"""VoorZorg Consult operations: a nurse files a consult request by hand, the JGZ accepts an advice.

VoorZorg Consult itself uses plain REST on what it may see (role `consult`): it searches and reads its
requests (Task and ServiceRequest) and PUTs their Task: accepted, rejected, completed with the advice.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from adapter.api.context import accept_checked, ctx, read_fhir_body
from adapter.api.guard import access, may_call, patient_of, require, viewer, writer
from adapter.api.responses import FhirResponse, resource_response
from adapter.config import CANONICAL_BASE
from adapter.fhir.models import parameters
from adapter.fhir.outcome import FhirError
from adapter.security.scopes import CREATE, READ, UPDATE
from adapter.store.session import Stored
from adapter.workflows.consult import accept, file_request

router = APIRouter(dependencies=[Depends(accept_checked)])

REQUEST_CONSULT = f"{CANONICAL_BASE}/OperationDefinition/request-consult"
ACCEPT_ADVICE = f"{CANONICAL_BASE}/OperationDefinition/accept-advice"
#: The operations per resource type, for the CapabilityStatement.
OPERATIONS = {
    "ServiceRequest": [{"name": "request-consult", "definition": REQUEST_CONSULT}],
    "Task": [{"name": "accept-advice", "definition": ACCEPT_ADVICE}],
}


def _touched(request: Request, *found: Stored | None) -> None:
    for stored in found:
        if stored is not None:
            access(request).touched(stored.reference, patient_of(stored))


def _parameters(body: dict[str, Any]) -> tuple[str, list[str]]:
    if body.get("resourceType") != "Parameters":
        raise FhirError.one(400, "The body is a Parameters resource (question, reason*)", "resourceType")
    question: list[str] = []
    reasons: list[str] = []
    for i, p in enumerate(parameters(body)):
        name = p.get("name")
        if name == "question" and isinstance(p.get("valueString"), str):
            question.append(p["valueString"])
        elif name == "reason" and isinstance(p.get("valueCoding"), dict):
            reasons.append(str(p["valueCoding"].get("code", "")))
        elif name == "reason" and isinstance(p.get("valueCode"), str):
            reasons.append(p["valueCode"])
        else:
            raise FhirError.one(
                400,
                f"Unknown parameter {name!r}: $request-consult takes question (string) and reason (Coding)",
                f"Parameters.parameter[{i}]",
            )
    if len(question) != 1:
        raise FhirError.one(
            400, "Exactly one question (valueString)", "Parameters.parameter", code="required"
        )
    return question[0], reasons


@router.post("/ServiceRequest/{referral_id}/$request-consult")
async def request_consult(referral_id: str, request: Request) -> FhirResponse:
    """File a VoorZorg Consult request for a referral by hand: the question and the reasons; the adapter
    adds the minimal situation from the referral itself. The same question again is the same request."""
    may_call(request, "request-consult")
    require(request, "ServiceRequest", CREATE)
    require(request, "Task", CREATE)
    question, reasons = _parameters(await read_fhir_body(request))
    c = ctx(request)
    written = await run_in_threadpool(
        lambda: file_request(
            writer(request),
            viewer(request),
            referral_id,
            question=question,
            reasons=reasons,
            deployment=c.deployment,
        )
    )
    _touched(request, written.stored)
    return resource_response(written.stored, c.base, 201 if written.created else 200)


@router.post("/Task/{task_id}/$accept-advice")
async def accept_consult_advice(task_id: str, request: Request) -> FhirResponse:
    """The JGZ takes over the advice of a completed consult request: the referral's decision, its Task
    and its care plan follow, in one transaction. No body. Answers Parameters with what it is now."""
    may_call(request, "accept-advice")
    require(request, "Task", UPDATE)
    require(request, "GuidanceResponse", UPDATE)
    require(request, "CarePlan", UPDATE)
    require(request, "ServiceRequest", READ)
    done = await run_in_threadpool(accept, writer(request), viewer(request), task_id, ctx(request).deployment)
    parts = [
        ("consultTask", done.consult.task),
        ("consultRequest", done.consult.request),
        ("decision", done.guidance),
        ("referralTask", done.referral_task),
        ("carePlan", done.careplan),
    ]
    _touched(request, *(r for _, r in parts))
    return FhirResponse(
        {
            "resourceType": "Parameters",
            "parameter": [{"name": n, "resource": r.content} for n, r in parts if r is not None],
        }
    )


def request_consult_definition() -> dict[str, Any]:
    return {
        "resourceType": "OperationDefinition",
        "id": "request-consult",
        "url": REQUEST_CONSULT,
        "name": "RequestConsult",
        "title": "File a VoorZorg Consult request for a referral by hand",
        "status": "active",
        "kind": "operation",
        "code": "request-consult",
        "resource": ["ServiceRequest"],
        "system": False,
        "type": False,
        "instance": True,
        "affectsState": True,
        "description": "On a VoorZorg referral (ServiceRequest): makes a consult request (ServiceRequest, "
        "category consultation, and its Task, owned by VoorZorg Consult) with the question, the reasons "
        "and the minimal situation the adapter takes from the referral (ages, pregnancy timing, parity, "
        "assessments, voluntariness; never who she is). The same question again answers the same Task. "
        "A question naming the client (BSN, name, birth date, address, telecom) is refused (422).",
        "parameter": [
            {"name": "question", "use": "in", "min": 1, "max": "1", "type": "string"},
            {
                "name": "reason",
                "use": "in",
                "min": 0,
                "max": "*",
                "type": "Coding",
                "documentation": "voorzorg-decision-reason; default: the decision's consult reasons",
            },
            {"name": "return", "use": "out", "min": 1, "max": "1", "type": "Task"},
        ],
    }


def accept_advice_definition() -> dict[str, Any]:
    def out(name: str, type_: str, lo: int) -> dict[str, Any]:
        return {"name": name, "use": "out", "min": lo, "max": "1", "type": type_}

    return {
        "resourceType": "OperationDefinition",
        "id": "accept-advice",
        "url": ACCEPT_ADVICE,
        "name": "AcceptAdvice",
        "title": "Accept the advice of VoorZorg Consult",
        "status": "active",
        "kind": "operation",
        "code": "accept-advice",
        "resource": ["Task"],
        "system": False,
        "type": False,
        "instance": True,
        "affectsState": True,
        "description": "On a completed VoorZorg Consult Task: writes the referral's new decision "
        "(GuidanceResponse: the advice's track, the consult's reasons, an explanation naming the "
        "consult), moves the referral Task (accepted; rejected for not-voorzorg), revises the care plan "
        "(with the agreed evaluation moments), completes the consult request and cancels other open "
        "ones; in one transaction. Accepting again changes nothing.",
        "parameter": [
            out("consultTask", "Task", 1),
            out("consultRequest", "ServiceRequest", 1),
            out("decision", "GuidanceResponse", 1),
            out("referralTask", "Task", 1),
            out("carePlan", "CarePlan", 0),
        ],
    }
