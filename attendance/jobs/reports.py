"""The report jobs: plan (the parent), one chunk per local date, the final step, the reaper.

Each takes ids, calls the pipeline's steps (attendance/services/reports), commits, then
queues what comes next; on error it records the failure and re-raises, so RQ's retry and
failure handling see it too. Fan-out and fan-in: the plan queues one `compute_day` per
date to compute; each chunk reports back to the database, and the chunk that finds none
of its report's chunks left queues `finalize_report`, which stores the report. No job
waits on another; `reap` hands back what a lost worker dropped.
"""

from __future__ import annotations

import datetime as dt
import logging

from flask import current_app

from .. import clock
from ..extensions import db
from ..models import REPORT_FAILED, REPORT_FINISHED
from ..services.reports import Settings, recovery, settings_from, steps
from .queue import Call, dispatcher

log = logging.getLogger(__name__)
ENDED = (REPORT_FINISHED, REPORT_FAILED)


def _settings() -> Settings:
    return settings_from(current_app.config)


def chunk_job_id(report_id: str, day: dt.date, attempt: int = 0) -> str:
    """RQ job id of a chunk (a rerun after a lost worker gets a new one)."""
    return f"report-{report_id}-day-{day.isoformat()}-{attempt}"


def plan_call(report_id: str) -> Call:
    """The plan job of a new report, queued once the report row is committed (see
    attendance.services.reports.requesting)."""
    return Call(plan_report, (report_id,), job_id=f"report-{report_id}-plan", retries=2)


def _final_step(report_id: str) -> Call:
    # One id per report: queued twice (two chunks finishing together), it runs twice and
    # the second run finds the report finished.
    return Call(finalize_report, (report_id,), job_id=f"report-{report_id}-final", retries=2)


def plan_report(report_id: str) -> str:
    """The parent job: make the chunks and queue the ones to compute.

    No job waits on another: each chunk reports back to the database, and the chunk that
    finds no other left to compute queues the final step (see `compute_day`).
    """
    try:
        settings = _settings()
        days = steps.plan(report_id)
        db.session.commit()
        chunks = [
            Call(
                compute_day,
                (report_id, day.isoformat()),
                job_id=chunk_job_id(report_id, day),
                retries=settings.chunk_attempts - 1,
                timeout=settings.chunk_timeout,
            )
            for day in days
        ]
        if chunks:
            dispatcher().enqueue(*chunks)
            return report_id
        ready = steps.ready_to_finalize(report_id)  # every date cached, empty or future
        db.session.commit()
        if ready:
            dispatcher().enqueue(_final_step(report_id))
        return report_id
    finally:
        db.session.remove()


def compute_day(report_id: str, day_iso: str) -> str:
    """A chunk: compute one local date and report it back to the database; the last chunk
    of the report to do so queues the final step.

    A try that raises is counted on the chunk (`record_chunk_failure`) and re-raised: RQ
    runs the job again (its `Retry`) until the chunk has no tries left, when the final
    step is queued at once to fail the report. Why two counters: services/reports/recovery.
    """
    day = dt.date.fromisoformat(day_iso)
    settings = _settings()
    try:
        if steps.start_chunk(report_id, day, settings):
            db.session.commit()
            steps.chunk_started(report_id, day)
            steps.compute_chunk(report_id, day)
        db.session.commit()
        # Asked after our own commit, so of two chunks finishing together at least the
        # later one sees the other's: the final step is never left unqueued.
        ready = steps.ready_to_finalize(report_id)
        db.session.commit()  # end the read (on SQLite it would hold the job's lock)
        if ready:
            dispatcher().enqueue(_final_step(report_id))
        return report_id
    except Exception as error:
        db.session.rollback()
        failed = steps.record_chunk_failure(report_id, day, error, settings)
        db.session.commit()
        log.exception("report %s: day %s failed", report_id, day_iso)
        if failed:  # no tries left: the final step fails the report now
            dispatcher().enqueue(_final_step(report_id))
        raise
    finally:
        db.session.remove()


def finalize_report(report_id: str) -> str:
    """The final step: combine the chunks into the stored report (or fail it)."""
    try:
        status = steps.finalize(report_id)
        db.session.commit()
        log.info("report %s: %s", report_id, status)
        if status in ENDED:
            dispatcher().announce([report_id])  # wake the requests waiting for it
        return status
    except Exception:
        db.session.rollback()
        raise
    finally:
        db.session.remove()


def reap(everything: bool = False) -> recovery.Recovery:
    """Hand lost work back to the queue (run by every worker's reaper thread)."""
    settings = _settings()
    try:
        now = clock.now()
        found = recovery.reap(now, settings, everything=everything)
        db.session.commit()
        queue = dispatcher()
        # Chunks whose queued job vanished (e.g. Redis lost it) are queued again.
        grace = now - dt.timedelta(seconds=settings.chunk_timeout + settings.lease_grace)
        lost = [
            (report_id, day)
            for report_id, day in recovery.pending_chunks(grace)
            if (report_id, day) not in found.chunks
            and not queue.is_active(
                chunk_job_id(report_id, day), settings.chunk_timeout + settings.lease_grace
            )
        ]
        if lost:
            recovery.touch_chunks(lost)  # so the next pass waits a full grace period again
            db.session.commit()
            found.chunks.extend(lost)
            found.finalize.update(report_id for report_id, _ in lost)
        stamp = int(now.timestamp() * 1000)
        calls = [
            Call(plan_report, (rid,), job_id=f"report-{rid}-plan-{stamp}") for rid in found.plan
        ]
        calls += [
            Call(
                compute_day,
                (rid, day.isoformat()),
                job_id=f"{chunk_job_id(rid, day)}-rerun-{stamp}",
                timeout=settings.chunk_timeout,
            )
            for rid, day in found.chunks
        ]
        # Requeued chunks queue the final step when they finish; this one finishes
        # reports whose chunks are all done or failed (it does nothing while any runs).
        calls += [_final_step(rid) for rid in found.finalize]
        if calls:
            log.warning(
                "reaper: requeued %d plans, %d chunks, %d final steps",
                len(found.plan),
                len(found.chunks),
                len(found.finalize),
            )
            queue.enqueue(*calls)
        return found
    finally:
        db.session.remove()
