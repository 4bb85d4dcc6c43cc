"""Monitoring over HTTP: `Measure/{id}/$evaluate-measure` (GET and POST) answers a MeasureReport.

    GET  /Measure/voorzorg-uptake/$evaluate-measure?periodStart=2026-01-01&periodEnd=2026-12-31
    POST /Measure/voorzorg-uptake/$evaluate-measure   Parameters: periodStart, periodEnd (valueDate),
         reportType (valueCode summary | subject-list), subject (valueString/valueReference Patient/{id}),
         audience (valueCode internal | external)

Computed by `adapter.monitoring` over the store (no CQL engine). Who may ask, and for which audience, is
access-policy.yaml (`operations: evaluate-measure`, `report_audience`): the JGZ gets exact reports (the
setting VOORZORG_REPORT_AUDIENCE decides its default), the regional OZKS role only external ones (small
numbers masked). Bad input is 4xx naming the parameter: the query parameter's name on GET,
`Parameters.parameter[name]` on POST.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from adapter.api.context import accept_checked, ctx, read_fhir_body
from adapter.api.guard import access, may_call, principal, require
from adapter.api.responses import FhirResponse
from adapter.config import CANONICAL_BASE
from adapter.data import access_policy
from adapter.fhir.outcome import FhirError, Issue
from adapter.monitoring import MEASURE_IDS, evaluate_measure
from adapter.security.scopes import READ

router = APIRouter(dependencies=[Depends(accept_checked)])

EVALUATE = f"{CANONICAL_BASE}/OperationDefinition/Measure-evaluate-measure"
#: The operations per resource type, for the CapabilityStatement.
OPERATIONS = {"Measure": [{"name": "evaluate-measure", "definition": EVALUATE}]}
PARAMETERS = ("periodStart", "periodEnd", "reportType", "subject", "audience")


@router.get("/Measure/{measure_id}/$evaluate-measure")
async def evaluate_get(measure_id: str, request: Request) -> FhirResponse:
    q = request.query_params
    unknown = sorted(set(q) - {*PARAMETERS, "_format"})
    if unknown:
        raise FhirError.one(
            400,
            f"Unknown parameter {unknown[0]!r}: $evaluate-measure takes {', '.join(PARAMETERS)}",
            unknown[0],
        )
    return await _evaluate(request, measure_id, {k: q[k] for k in PARAMETERS if k in q}, lambda n: n)


@router.post("/Measure/{measure_id}/$evaluate-measure")
async def evaluate_post(measure_id: str, request: Request) -> FhirResponse:
    body = await read_fhir_body(request)
    return await _evaluate(
        request, measure_id, _from_parameters(body), lambda n: f"Parameters.parameter[{n}]"
    )


def _from_parameters(body: dict[str, Any]) -> dict[str, str]:
    if body.get("resourceType") != "Parameters":
        raise FhirError.one(400, "$evaluate-measure takes a Parameters resource", "resourceType")
    out: dict[str, str] = {}
    for i, p in enumerate(body.get("parameter", [])):
        name = p.get("name")
        if name not in PARAMETERS or name in out:
            raise FhirError.one(
                400,
                f"Parameter {name!r}: $evaluate-measure takes each of {', '.join(PARAMETERS)} once",
                f"Parameters.parameter[{i}]",
            )
        ref = p.get("valueReference") or {}
        value = next((v for k, v in p.items() if k.startswith("value") and k != "valueReference"), None)
        out[name] = str(ref.get("reference") if ref else value)
    return out


async def _evaluate(request: Request, measure_id: str, raw: dict[str, str], where: Any) -> FhirResponse:
    may_call(request, "evaluate-measure")
    require(request, "MeasureReport", READ)
    if measure_id not in MEASURE_IDS:
        raise FhirError.one(404, f"Measure/{measure_id} is not known", code="not-found")
    try:
        asked = _asked(request, raw)
        store = ctx(request).store

        def run() -> dict[str, Any]:
            with store.reading() as s:
                return evaluate_measure(s, measure_id, **asked)

        report = await run_in_threadpool(run)
    except FhirError as e:
        raise FhirError(e.status, [_renamed(i, where) for i in e.issues], e.headers) from None
    if asked.get("subject"):
        access(request).touched(str(asked["subject"]), str(asked["subject"]))
    return FhirResponse(report)


def _renamed(issue: Issue, where: Any) -> Issue:
    names = tuple(where(x) if x in PARAMETERS else x for x in issue.expression)
    return Issue(issue.diagnostics, names, issue.code, issue.severity)


def _day(raw: dict[str, str], name: str) -> date:
    if name not in raw:
        raise FhirError.one(
            400, f"$evaluate-measure needs {name} (a date, YYYY-MM-DD)", name, code="required"
        )
    try:
        if len(raw[name]) != len("YYYY-MM-DD"):
            raise ValueError(raw[name])
        return date.fromisoformat(raw[name])
    except ValueError:
        raise FhirError.one(
            400, f"{name} {raw[name]!r} is not a date (YYYY-MM-DD)", name, code="value"
        ) from None


def _asked(request: Request, raw: dict[str, str]) -> dict[str, Any]:
    role = principal(request).role
    allowed = access_policy().get("report_audience", {}).get(role, "internal")
    default = "external" if allowed == "external" else ctx(request).settings.report_audience
    audience = raw.get("audience", default)
    if allowed == "external" and audience != "external":
        raise FhirError.one(
            403,
            f"The role {role!r} gets reports for outside the organisation only (audience external)",
            "audience",
            code="forbidden",
        )
    subject = raw.get("subject")
    if subject is not None and not subject.startswith("Patient/"):
        raise FhirError.one(400, f"subject {subject!r}: a client, Patient/[id]", "subject")
    return {
        "period_start": _day(raw, "periodStart"),
        "period_end": _day(raw, "periodEnd"),
        "report_type": raw.get("reportType", "summary"),
        "subject": subject,
        "audience": audience,
    }


def evaluate_definition() -> dict[str, Any]:
    def param(name: str, use: str, lo: int, type_: str, doc: str) -> dict[str, Any]:
        return {"name": name, "use": use, "min": lo, "max": "1", "type": type_, "documentation": doc}

    return {
        "resourceType": "OperationDefinition",
        "id": "Measure-evaluate-measure",
        "url": EVALUATE,
        "name": "EvaluateMeasure",
        "title": "Evaluate a VoorZorg monitoring measure",
        "status": "active",
        "kind": "operation",
        "code": "evaluate-measure",
        "base": "http://hl7.org/fhir/OperationDefinition/Measure-evaluate-measure",
        "resource": ["Measure"],
        "system": False,
        "type": False,
        "instance": True,
        "affectsState": False,
        "description": "The MeasureReport of one of the nine VoorZorg measures (domain page §8) over a "
        "period, computed by the adapter's own queries over its store. audience external (the OZKS role "
        "always) shows counts of 1-9 as '< 10' (count absent; data-absent-reason masked and "
        "voorzorg-small-number) and leaves out the scores computed on them.",
        "parameter": [
            param("periodStart", "in", 1, "date", "First day of the period"),
            param("periodEnd", "in", 1, "date", "Last day of the period (at most 5 years after the first)"),
            param("reportType", "in", 0, "code", "summary (default) or subject-list"),
            param("subject", "in", 0, "string", "Patient/[id]: the report for one client"),
            param("audience", "in", 0, "code", "internal (exact) or external (small numbers masked)"),
            param("return", "out", 1, "MeasureReport", "The report"),
        ],
    }
