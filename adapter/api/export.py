"""FHIR Bulk Data Access v2: `$export` of the whole store or of a Group of clients, asynchronously.

    GET  /$export, /Group/{id}/$export   kick-off (Prefer: respond-async) -> 202, Content-Location
    GET  /$export-status/{job}           202 (X-Progress, Retry-After) while it runs; 200 the manifest
    DELETE /$export-status/{job}         cancel -> 202; the status then answers 404
    GET  /$export-file/{job}/{Type}.ndjson   one output file (application/fhir+ndjson), streamed

A completed job's files are kept VOORZORG_EXPORT_KEEP_HOURS (the manifest's `Expires` header says until
when), then deleted: the status and the files then answer 404 saying the export expired.
    POST /Group                          a Group of clients (type person, actual, members: Patients)

Only the client that asked (the same client id and organisation) sees the job's status and files:
anyone else gets 404, as for a job that does not exist. `_pseudonymise=true` asks for the research
variant (mappings/pseudonymisation.yaml); who may export what is mappings/access-policy.yaml `export`.
"""

from __future__ import annotations

import json
from email.utils import format_datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from adapter.api.context import caller_address, check_accept, ctx, read_fhir_body
from adapter.api.guard import access, may_call, principal, require, writer
from adapter.api.responses import FhirResponse, resource_response
from adapter.data import export_rules
from adapter.export.kickoff import Wanted, exported_types, read_kickoff
from adapter.export.runner import Exports
from adapter.fhir.dates import now_instant
from adapter.fhir.models import check_structure
from adapter.fhir.outcome import FhirError, information
from adapter.fhir.validator import has_errors, validate
from adapter.security.principal import Principal
from adapter.security.scopes import CREATE
from adapter.store.export_jobs import ACCEPTED, CANCELLED, COMPLETED, FAILED, UNFINISHED, Job
from adapter.store.session import Session, new_id

router = APIRouter()
NDJSON = "application/fhir+ndjson"


def _exports(request: Request) -> Exports:
    return ctx(request).adapter.exports


@router.get("/$export")
def system_export(request: Request) -> Response:
    return _kick_off(request, None)


@router.get("/Group/{group_id}/$export")
def group_export(group_id: str, request: Request) -> Response:
    return _kick_off(request, group_id)


def _kick_off(request: Request, group_id: str | None) -> Response:
    check_accept(request)
    p = principal(request)
    operation = "Group/[id]/$export" if group_id else "$export"
    wanted = read_kickoff(list(request.query_params.multi_items()), request.headers.get("prefer", ""))
    types = exported_types(p, wanted, operation)
    c = ctx(request)
    members = _members(request, group_id) if group_id else None
    job = Job(
        id=new_id(),
        status=ACCEPTED,
        client_id=p.client_id,
        organization=p.organization,
        role=p.role,
        request=f"{c.base}{request.url.path}" + (f"?{request.url.query}" if request.url.query else ""),
        params=_params(wanted, types, group_id, members, caller_address(request)),
        transaction_time=now_instant(),
    )
    c.store.write(lambda s: s.exports.add(job))
    _exports(request).start(job.id)
    headers = {"Content-Location": f"{c.base}/$export-status/{job.id}"}
    return FhirResponse(information(f"export {job.id} accepted"), 202, headers)


def _params(
    wanted: Wanted, types: tuple[str, ...], group: str | None, members: list[str] | None, address: str | None
) -> dict[str, Any]:
    return {
        "types": list(types),
        "since": wanted.since,
        "pseudonymised": wanted.pseudonymised,
        "group": group,
        "members": members,
        "address": address,
    }


def _members(request: Request, group_id: str) -> list[str]:
    """The Patients a Group has as members (404 when there is no such Group)."""
    with ctx(request).store.reading() as s:
        group = s.live(f"Group/{group_id}")
    if group is None:
        raise FhirError.one(404, f"Group/{group_id} is not known", code="not-found")
    access(request).touched(group.reference, None)
    return [
        str(m["entity"]["reference"])
        for m in group.content.get("member", [])
        if isinstance(m.get("entity"), dict) and str(m["entity"].get("reference", "")).startswith("Patient/")
    ]


def _own_job(request: Request, job_id: str) -> Job:
    """The job, when the caller asked for it; 404 (never 403) for anyone else's and for none."""
    p: Principal = principal(request)
    with ctx(request).store.reading() as s:
        job = s.exports.get(job_id)
    if job is None or job.status == CANCELLED or not job.owned_by(p.client_id, p.organization):
        raise FhirError.one(404, f"export {job_id} is not known", code="not-found")
    exports = _exports(request)
    if exports.expired(job):
        hours = f"{exports.settings.export_keep_hours:g}"
        text = f"export {job_id} has expired: its files are deleted {hours} hours after it completed"
        raise FhirError.one(404, text, code="not-found")
    return job


@router.get("/$export-status/{job_id}")
def export_status(job_id: str, request: Request) -> Response:
    job = _own_job(request, job_id)
    if job.status in UNFINISHED:
        headers = {
            "X-Progress": job.progress or job.status,
            "Retry-After": str(export_rules()["retry_after"]),
        }
        return Response(status_code=202, headers=headers)
    if job.status == FAILED:
        raise FhirError.one(500, job.error or "the export failed", code="exception")
    base = ctx(request).base
    manifest = {
        "transactionTime": job.transaction_time,
        "request": job.request,
        "requiresAccessToken": True,
        "output": [
            {"type": o["type"], "url": f"{base}/$export-file/{job.id}/{o['file']}", "count": o["count"]}
            for o in job.output or []
        ],
        "error": [],
    }
    body = json.dumps(manifest, separators=(",", ":")).encode("utf-8")
    expires = format_datetime(_exports(request).expires(job), usegmt=True)
    return Response(body, status_code=200, media_type="application/json", headers={"Expires": expires})


@router.delete("/$export-status/{job_id}")
def cancel_export(job_id: str, request: Request) -> Response:
    job = _own_job(request, job_id)

    def cancel(s: Session) -> None:
        s.exports.set(job.id, status=CANCELLED, progress="cancelled")

    ctx(request).store.write(cancel)
    if job.status in (COMPLETED, FAILED):
        _exports(request).discard(job.id)  # a running job removes its own files when it sees this
    return FhirResponse(information(f"export {job_id} cancelled"), 202)


@router.get("/$export-file/{job_id}/{name}")
def export_file(job_id: str, name: str, request: Request) -> Response:
    job = _own_job(request, job_id)
    path = _exports(request).file(job.id, name) if job.status == COMPLETED else None
    if path is None:
        raise FhirError.one(404, f"export {job_id} has no file {name}", code="not-found")
    return FileResponse(path, media_type=NDJSON)


@router.post("/Group")
async def create_group(request: Request) -> FhirResponse:
    """A Group of clients to export (Group/[id]/$export): type person, actual, members that are Patients
    this server holds."""
    require(request, "Group", CREATE)
    may_call(request, "group")
    check_accept(request)
    body = await read_fhir_body(request)
    check_structure(body)
    group = await run_in_threadpool(_group, request, body)
    access(request).touched(group.reference, None)
    return resource_response(group, ctx(request).base, 201)


def _group(request: Request, body: dict[str, Any]) -> Any:
    if body.get("resourceType") != "Group":
        raise FhirError.one(
            400, f"The body is a {body.get('resourceType')}, the URL says Group", "resourceType"
        )
    if body.get("type") != "person" or body.get("actual") is not True:
        raise FhirError.one(
            422, "A Group of clients has type person and actual true", "Group.type", code="value"
        )
    body = {**body, "id": new_id()}
    issues = validate(body)
    if has_errors(issues):
        raise FhirError(422, [i for i in issues if i.severity in ("error", "fatal")])

    def work(s: Session) -> Any:
        for i, m in enumerate(body.get("member", [])):
            ref = str((m.get("entity") or {}).get("reference", ""))
            if not ref.startswith("Patient/") or s.live(ref) is None:
                where = f"Group.member[{i}].entity"
                raise FhirError.one(422, f"{ref or 'the member'} is no Patient this server holds", where)
        return s.put(body, method="POST").stored

    return writer(request).write(work)
