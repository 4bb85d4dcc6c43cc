"""The rows of Bulk Data export jobs (`export_job`), in the session's transaction (adapter/export)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection

from adapter.fhir.dates import now_instant
from adapter.store.schema import export_job

ACCEPTED, RUNNING, COMPLETED, FAILED, CANCELLED, EXPIRED = (
    "accepted",
    "in-progress",
    "completed",
    "failed",
    "cancelled",
    "expired",  # completed, and its files deleted after the time they are kept (adapter/export)
)
#: A job in one of these states still has work to do (a restarted server picks it up again).
UNFINISHED = (ACCEPTED, RUNNING)


@dataclass(frozen=True)
class Job:
    id: str
    status: str
    client_id: str
    organization: str | None
    role: str
    request: str
    params: dict[str, Any]
    transaction_time: str
    progress: str | None = None
    output: list[dict[str, Any]] | None = None
    error: str | None = None
    updated: str = ""  # when the row last changed: for a completed job, when it completed

    def owned_by(self, client_id: str, organization: str | None) -> bool:
        """Only the client that asked, in the same organisation, polls, downloads and cancels."""
        return self.client_id == client_id and self.organization == organization


class ExportJobs:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(self, job: Job) -> None:
        self.conn.execute(
            insert(export_job).values(
                id=job.id,
                status=job.status,
                client_id=job.client_id,
                organization=job.organization,
                role=job.role,
                request=job.request,
                params=json.dumps(job.params),
                transaction_time=job.transaction_time,
                updated=now_instant(),
            )
        )

    def get(self, job_id: str) -> Job | None:
        row = self.conn.execute(select(export_job).where(export_job.c.id == job_id)).first()
        if row is None:
            return None
        return Job(
            row.id,
            row.status,
            row.client_id,
            row.organization,
            row.role,
            row.request,
            json.loads(row.params),
            row.transaction_time,
            row.progress,
            json.loads(row.output) if row.output else None,
            row.error,
            row.updated,
        )

    def unfinished(self) -> list[str]:
        rows = self.conn.execute(
            select(export_job.c.id).where(export_job.c.status.in_(UNFINISHED)).order_by(export_job.c.id)
        ).all()
        return [str(r.id) for r in rows]

    def completed_before(self, instant: str) -> list[str]:
        """Completed jobs that completed before `instant` (instants of one format compare as text)."""
        rows = self.conn.execute(
            select(export_job.c.id)
            .where(export_job.c.status == COMPLETED, export_job.c.updated < instant)
            .order_by(export_job.c.id)
        ).all()
        return [str(r.id) for r in rows]

    def set(self, job_id: str, *, only_from: tuple[str, ...] = (), **values: Any) -> bool:
        """Change the job (status, progress, output, error); with `only_from`, only while its status is
        one of those (a cancelled job is never marked completed). Whether it changed."""
        if "output" in values and values["output"] is not None:
            values["output"] = json.dumps(values["output"])
        where = [export_job.c.id == job_id]
        if only_from:
            where.append(export_job.c.status.in_(only_from))
        values = {"updated": now_instant(), **values}
        done = self.conn.execute(update(export_job).where(*where).values(**values))
        return bool(done.rowcount)
