"""Running a Bulk Data export job in the background: the store read page by page (one short read
transaction each, keyset paging), each resource written as one line of its type's NDJSON file, so an
export of any size holds one page in memory. The job's row (`export_job`) says where it is; a server
that restarts picks up the jobs it had not finished (`Exports.resume`), from the start.

    exports = Exports(store, settings)
    exports.start(job_id)     # a thread; `run(job_id)` does the same work in the caller's thread

When the files are written, one transaction marks the job completed and writes its NEN 7513 record: a
transfer (verstrekking), AuditEvent type DCM 110106 "Export", naming who asked, for which organisation,
the types, how many resources, whether pseudonymised, and every client whose data went out.

Files with client data do not stay on disk for ever: `VOORZORG_EXPORT_KEEP_HOURS` after a job completed
(the status response says when, `Expires`) it counts as expired, and the sweeper (`Sweeper`, a thread
that runs with the app) deletes its files and marks it `expired`.
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any

from adapter.background import Background, repeat
from adapter.config import Settings
from adapter.data import export_rules
from adapter.export.pseudonymise import Pseudonymiser, load_pseudonym_key
from adapter.fhir.dates import instant
from adapter.fhir.subject import client_of
from adapter.security.audit import Access, append_event, build_event
from adapter.security.principal import Principal
from adapter.store.engine import Store
from adapter.store.export_jobs import CANCELLED, COMPLETED, EXPIRED, FAILED, RUNNING, UNFINISHED, Job
from adapter.store.session import Session, Stored

log = logging.getLogger("voorzorg.export")

_DCM = "http://dicom.nema.org/resources/ontology/DCM"
_ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
_ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
EXPORT_OPERATION = "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export"
GROUP_EXPORT_OPERATION = "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/group-export"


class Cancelled(Exception):
    """The requester cancelled the job while it ran."""


@dataclass
class Tally:
    """What a job wrote: per type the count, and every client whose data went out (for the audit)."""

    output: list[dict[str, Any]] = field(default_factory=list)
    clients: set[str] = field(default_factory=set)

    @property
    def total(self) -> int:
        return sum(int(o["count"]) for o in self.output)


class Exports:
    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self._threads: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()
        self.sweeper = Sweeper(self)

    @cached_property
    def pseudonymiser(self) -> Pseudonymiser:
        s = self.settings
        return Pseudonymiser(load_pseudonym_key(s.pseudonym_key, s.effective_pseudonym_key_file))

    def directory(self, job_id: str) -> Path:
        return self.settings.export_dir / job_id

    def file(self, job_id: str, name: str) -> Path | None:
        """The file `name` of a job, when the job wrote it (never a path outside the job's directory)."""
        path = self.directory(job_id) / name
        return path if name.endswith(".ndjson") and "/" not in name and path.is_file() else None

    def start(self, job_id: str) -> None:
        with self._lock:
            running = self._threads.get(job_id)
            if running is not None and running.is_alive():
                return
            t = threading.Thread(target=self._run_logged, args=(job_id,), name=f"voorzorg-export-{job_id}")
            t.daemon = True
            self._threads[job_id] = t
            t.start()

    def resume(self) -> None:
        """Start again every job a previous run of the server accepted and did not finish."""
        with self.store.reading() as s:
            unfinished = s.exports.unfinished()
        for job_id in unfinished:
            self.start(job_id)

    def wait(self, timeout: float = 30.0) -> None:
        """Until the jobs this process started have ended (tests, shutdown)."""
        for t in list(self._threads.values()):
            t.join(timeout)

    def discard(self, job_id: str) -> None:
        """Remove a job's files (cancelled, failed or expired)."""
        shutil.rmtree(self.directory(job_id), ignore_errors=True)

    @property
    def keep(self) -> timedelta:
        return timedelta(hours=self.settings.export_keep_hours)

    def expires(self, job: Job) -> datetime:
        """When a completed job's files go: `keep` after it completed."""
        return datetime.fromisoformat(job.updated) + self.keep

    def expired(self, job: Job, now: datetime | None = None) -> bool:
        """Expired, or completed longer ago than the files are kept (the sweeper may not have come by yet)."""
        if job.status == EXPIRED:
            return True
        return job.status == COMPLETED and self.expires(job) <= (now or datetime.now(UTC))

    def sweep(self, now: datetime | None = None) -> list[str]:
        """Delete the files of every job that completed more than `keep` ago and mark it expired."""
        cutoff = instant((now or datetime.now(UTC)) - self.keep)
        with self.store.reading() as s:
            due = s.exports.completed_before(cutoff)
        swept = []
        for job_id in due:

            def expire(s: Session, job_id: str = job_id) -> bool:
                return s.exports.set(job_id, only_from=(COMPLETED,), status=EXPIRED, progress="expired")

            if self.store.write(expire):
                self.discard(job_id)
                swept.append(job_id)
                log.info("export %s expired: its files were deleted", job_id)
        return swept

    def _run_logged(self, job_id: str) -> None:
        try:
            self.run(job_id)
        except Exception as e:  # the database went away: the job stays unfinished, resumed at restart
            log.error("export %s: %s", job_id, type(e).__name__)

    def run(self, job_id: str) -> None:
        """Do the job: write its files, then mark it completed and record the transfer, in one transaction."""
        job = self._take(job_id)
        if job is None:
            return
        try:
            tally = self._write_files(job)
        except Cancelled:
            self.discard(job_id)
            return
        except Exception as e:
            log.exception("export %s failed", job_id)
            self._fail(job, f"the export failed ({type(e).__name__})")
            return

        def finish(s: Session) -> bool:
            done = s.exports.set(
                job_id, only_from=(RUNNING,), status=COMPLETED, output=tally.output, progress="completed"
            )
            if done:
                append_event(s, transfer_event(job, tally, self.settings, "success"))
            return done

        if not self.store.write(finish):
            self.discard(job_id)  # cancelled just before the end

    def _take(self, job_id: str) -> Job | None:
        def take(s: Session) -> Job | None:
            job = s.exports.get(job_id)
            if job is None or job.status not in UNFINISHED:
                return None
            s.exports.set(job_id, status=RUNNING, progress="started")
            return job

        job = self.store.write(take)
        if job is not None:
            self.discard(job_id)  # a resumed job starts from the beginning
            self.directory(job_id).mkdir(parents=True, exist_ok=True)
        return job

    def _fail(self, job: Job, text: str) -> None:
        def fail(s: Session) -> None:
            if s.exports.set(job.id, only_from=(RUNNING,), status=FAILED, error=text):
                append_event(s, transfer_event(job, Tally(), self.settings, "serious", text))

        self.store.write(fail)
        self.discard(job.id)

    def _write_files(self, job: Job) -> Tally:
        tally = Tally()
        for rtype in job.params["types"]:
            path = self.directory(job.id) / f"{rtype}.ndjson"
            count = 0
            with path.open("w", encoding="utf-8") as f:
                for res in self._resources(job, rtype, tally):
                    f.write(json.dumps(res, separators=(",", ":"), ensure_ascii=False))
                    f.write("\n")
                    count += 1
            if count:
                tally.output.append({"type": rtype, "file": path.name, "count": count})
            else:
                path.unlink()
            self._progress(job.id, f"{rtype}: {count}")
        return tally

    def _progress(self, job_id: str, text: str) -> None:
        def note(s: Session) -> None:
            s.exports.set(job_id, progress=text)

        self.store.write(note)

    def _resources(self, job: Job, rtype: str, tally: Tally) -> Iterator[dict[str, Any]]:
        """The resources of one type the job writes, as they go into the file, a page at a time."""
        members = set(job.params["members"]) if job.params.get("members") is not None else None
        after: tuple[str, str] | None = None
        page = int(export_rules()["page_size"])
        while True:
            with self.store.reading() as s:
                current = s.exports.get(job.id)
                if current is None or current.status == CANCELLED:
                    raise Cancelled
                found = s.scan(rtype, job.params.get("since"), after, page, until=job.transaction_time)
            for stored in found:
                out = self._one(job, stored, members, tally)
                if out is not None:
                    yield out
            if len(found) < page:
                return
            after = (found[-1].last_updated, found[-1].res_id)

    def _one(self, job: Job, stored: Stored, members: set[str] | None, tally: Tally) -> dict[str, Any] | None:
        client = client_of(stored.content)
        if members is not None and client not in members:
            return None
        if client is not None:
            tally.clients.add(client)
        if job.params.get("pseudonymised"):
            return self.pseudonymiser.resource(stored.content)
        return stored.content


class Sweeper(Background):
    """Deletes expired exports' files while the app runs: at start, then every tenth of the keep time (at
    most every ten minutes), so files outlive their time by at most that."""

    thread_name = "voorzorg-export-sweeper"

    def __init__(self, exports: Exports) -> None:
        super().__init__()
        self.exports = exports

    def run(self, stop: threading.Event | None = None) -> None:
        interval = min(self.exports.keep.total_seconds() / 10, 600.0)
        # a round that expired jobs is followed by one more, which finds none and pauses
        repeat(stop or self._stop, lambda: len(self.exports.sweep()), interval, log, "export sweeper")


def transfer_event(
    job: Job, tally: Tally, settings: Settings, outcome: str, text: str | None = None
) -> dict[str, Any]:
    """The NEN 7513 record of an export: a transfer (verstrekking) of these clients' data to the requester."""
    params = job.params
    variant = "pseudonymised" if params.get("pseudonymised") else "identifiable"
    access = Access(interaction="operation", resource_type=None, query=job.request)
    for client in sorted(tally.clients):
        access.touched(client, client)
    me = Principal(client_id=job.client_id, role=job.role, organization=job.organization)
    summary = f"{tally.total} resource(s) of {', '.join(params['types'])}, {variant}"
    event = build_event(
        access,
        principal=me,
        outcome=outcome,
        outcome_text=f"verstrekking (bulk export {job.id}): {text or summary}",
        address=params.get("address"),
        path=f"GET {job.request}",
        observer=settings.base_url,
    )
    event["type"] = {"system": _DCM, "code": "110106", "display": "Export"}
    operation = GROUP_EXPORT_OPERATION if params.get("group") else EXPORT_OPERATION
    event["subtype"].append({"system": "urn:ietf:rfc:3986", "code": operation, "display": "$export"})
    if params.get("pseudonymised"):
        event["purposeOfEvent"] = [
            {"coding": [{"system": _ACT_REASON, "code": "HRESCH", "display": "healthcare research"}]}
        ]
    event["entity"].append(_export_entity(job, tally, variant))
    return event


def _export_entity(job: Job, tally: Tally, variant: str) -> dict[str, Any]:
    details = [
        ("types", ", ".join(job.params["types"])),
        ("resources", str(tally.total)),
        ("clients", str(len(tally.clients))),
        ("variant", variant),
        *((f"count {o['type']}", str(o["count"])) for o in tally.output),
    ]
    if job.params.get("since"):
        details.append(("since", str(job.params["since"])))
    if job.params.get("group"):
        details.append(("group", str(job.params["group"])))
    return {
        "type": {"system": _ENTITY_TYPE, "code": "2", "display": "System Object"},
        "description": f"bulk export {job.id}",
        "detail": [{"type": k, "valueString": v} for k, v in details],
    }
