"""Recovery: hand back work whose worker was lost, and fail what is overdue.

Every worker's reaper thread runs the job `reap` (attendance/jobs/reports.py) every few
seconds; it calls `reap` here, commits, and queues what it returns. Reapers lock the rows
they change, so any number of them may run.

A chunk's `attempts` counts its tries, failures and lost workers together, and is what
decides that a chunk has failed (`Settings.chunk_attempts`). RQ's `Retry` on a chunk job
is only how a try that raised is run again at once; a try lost with its worker never
reaches RQ, so only the database can count it (the reaper's requeued job has no RQ
retries: if it fails with tries left, its chunk waits, pending, for the reaper again).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import and_, or_, select, update

from ... import clock
from ...extensions import db
from ...models import (
    CHUNK_DONE,
    CHUNK_FAILED,
    CHUNK_PENDING,
    CHUNK_RUNNING,
    REPORT_QUEUED,
    Report,
    ReportChunk,
)
from . import IN_FLIGHT, Settings, fail


@dataclass
class Recovery:
    """Work the reaper hands back to the queue."""

    chunks: list[tuple[str, dt.date]] = field(default_factory=list)
    finalize: set[str] = field(default_factory=set)
    plan: set[str] = field(default_factory=set)


def reap(now: dt.datetime, settings: Settings, everything: bool = False) -> Recovery:
    """Find lost work: expired chunk leases, unplanned or unfinalized reports, overdue reports.

    `everything` treats every unfinished step as lost (an in-process restart).
    """
    found = Recovery()
    lease_over = ReportChunk.lease_until < now
    stale = (
        or_(ReportChunk.status == CHUNK_RUNNING, ReportChunk.status == CHUNK_PENDING)
        if everything
        else and_(ReportChunk.status == CHUNK_RUNNING, lease_over)
    )
    for chunk in db.session.scalars(select(ReportChunk).where(stale).with_for_update()):
        if chunk.status == CHUNK_RUNNING:
            chunk.attempts += 1
            chunk.error = "the worker computing this day was lost"
        chunk.lease_until = None
        if chunk.attempts >= settings.chunk_attempts:
            chunk.status = CHUNK_FAILED
        else:
            chunk.status = CHUNK_PENDING
            found.chunks.append((chunk.report_id, chunk.day))
        found.finalize.add(chunk.report_id)
    overdue = now - dt.timedelta(seconds=settings.deadline)
    for report in db.session.scalars(
        select(Report).where(Report.status.in_(IN_FLIGHT)).with_for_update()
    ):
        if report.created_at < overdue:
            fail(report, f"timed out: not finished within {settings.deadline} seconds")
            found.finalize.discard(report.id)
        elif report.status == REPORT_QUEUED:
            if everything or report.created_at < now - dt.timedelta(seconds=30):
                found.plan.add(report.id)
        elif report.chunks and all(c.status in (CHUNK_DONE, CHUNK_FAILED) for c in report.chunks):
            # Normally the final step is already queued; only a quiet report needs a push.
            quiet_since = now - dt.timedelta(seconds=settings.lease_grace)
            if everything or max(c.updated_at for c in report.chunks) < quiet_since:
                found.finalize.add(report.id)
    db.session.flush()
    return found


def pending_chunks(older_than: dt.datetime) -> list[tuple[str, dt.date]]:
    """Chunks waiting for a job since before `older_than` (their job may have been lost)."""
    rows = db.session.execute(
        select(ReportChunk.report_id, ReportChunk.day).where(
            ReportChunk.status == CHUNK_PENDING, ReportChunk.updated_at < older_than
        )
    )
    return [(r, d) for r, d in rows]


def touch_chunks(chunks: Iterable[tuple[str, dt.date]]) -> None:
    """Mark chunks as just handed to a job."""
    for report_id, day in chunks:
        db.session.execute(
            update(ReportChunk)
            .where(ReportChunk.report_id == report_id, ReportChunk.day == day)
            .values(updated_at=clock.now())
        )
