"""The report jobs: plan (the parent), one chunk per local date, and the final step.

Jobs take ids and primitives, reload rows, call the service, commit, and on error record
the failure and re-raise, so RQ's retry and failure handling see it too.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from flask import current_app

from ..extensions import db
from ..models import REPORT_FAILED, REPORT_FINISHED, Report, School
from ..services import reports as service
from .queue import Call, QueueUnavailable, dispatcher

log = logging.getLogger(__name__)
ENDED = (REPORT_FINISHED, REPORT_FAILED)


def _settings() -> service.Settings:
    return service.settings_from(current_app.config)


def chunk_job_id(report_id: str, day: dt.date, attempt: int = 0) -> str:
    """RQ job id of a chunk (a rerun after a lost worker gets a new one)."""
    return f"report-{report_id}-day-{day.isoformat()}-{attempt}"


def submit(
    school: School,
    start: dt.date,
    end: dt.date,
    granularity: str,
    now: dt.datetime | None = None,
) -> service.Report:
    """Create (or share) a report and queue its planning; commits.

    When the queue is unavailable the new report is failed (with a message saying so) and
    QueueUnavailable is raised, naming it. The row is committed before the enqueue (a
    worker must find it), so it is failed rather than deleted: a request that shared it
    in between holds its id and sees it fail, and a failed report is never shared, so the
    next request starts a fresh one.
    """
    settings = _settings()
    report, created = service.create_report(
        school, start, end, granularity, now or service.now_for_report(), settings.deadline
    )
    report_id = report.id  # read before the commit expires it (a read would open a transaction)
    db.session.commit()
    if created:
        try:
            dispatcher().enqueue(
                Call(plan_report, (report_id,), job_id=f"report-{report_id}-plan", retries=2)
            )
        except QueueUnavailable as error:
            service.abandon(report_id, error.detail)
            db.session.commit()
            error.report_id = report_id
            raise
    return report


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
        days = service.plan(report_id, settings)
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
        ready = service.ready_to_finalize(report_id)  # every date cached, empty or future
        db.session.commit()
        if ready:
            dispatcher().enqueue(_final_step(report_id))
        return report_id
    finally:
        db.session.remove()


def compute_day(report_id: str, day_iso: str) -> str:
    """A chunk: compute one local date and report it back to the database; the last chunk
    of the report to do so queues the final step."""
    day = dt.date.fromisoformat(day_iso)
    settings = _settings()
    try:
        if service.start_chunk(report_id, day, settings):
            db.session.commit()
            delay = float(settings.faults.get("chunk_sleep", 0))
            if delay:
                time.sleep(delay)  # fault injection: widen the window in which a worker can die
            service.compute_chunk(report_id, day, settings)
        db.session.commit()
        # Asked after our own commit, so of two chunks finishing together at least the
        # later one sees the other's: the final step is never left unqueued.
        ready = service.ready_to_finalize(report_id)
        db.session.commit()  # end the read (on SQLite it would hold the job's lock)
        if ready:
            dispatcher().enqueue(_final_step(report_id))
        return report_id
    except Exception as error:
        db.session.rollback()
        failed = service.record_chunk_failure(report_id, day, error, settings)
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
        status = service.finalize(report_id)
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


def wait_for(reports: Sequence[Report], seconds: float) -> list[Report]:
    """The reports, reloaded once all have ended (finished or failed) or the seconds are
    up, whichever is first. Woken by the final step's announcement; a look every 250 ms
    anyway, in case one is lost (a report the reaper fails is not announced).

    A waiting request holds a web thread, which gate check-ins need, so waits are bounded
    twice: never longer than REPORT_WAIT_MAX, and no more than REPORT_WAITERS requests of
    a process wait at once. The others return at once, as with no wait (the API answers
    them 202 with a Location to poll).
    """
    ids = [r.id for r in reports]
    current = list(reports)
    seconds = min(seconds, float(current_app.config["REPORT_WAIT_MAX"]))
    if seconds <= 0 or all(r.status in ENDED for r in current):
        return current
    with _waiting_slot() as slot:
        if not slot:
            return current
        deadline = time.monotonic() + seconds
        with dispatcher().listen(ids) as ended:
            while True:
                # A fresh look after subscribing, so an end announced before it is not missed.
                db.session.rollback()
                current = [db.session.get_one(Report, i) for i in ids]
                left = deadline - time.monotonic()
                if all(r.status in ENDED for r in current) or left <= 0:
                    return current
                db.session.rollback()  # never wait in a transaction: on SQLite it holds the lock
                ended(min(left, 0.25))


_WAITERS = "attendance.report_waiters"


@contextmanager
def _waiting_slot() -> Iterator[bool]:
    """One of this process's REPORT_WAITERS places to wait in: True if taken (given back
    afterwards), False at once when all are taken."""
    extensions = current_app.extensions
    slots = extensions.get(_WAITERS)
    if slots is None:  # made on first use; of two threads racing here, setdefault keeps one
        size = int(current_app.config["REPORT_WAITERS"])
        slots = extensions.setdefault(_WAITERS, threading.BoundedSemaphore(size))
    taken = slots.acquire(blocking=False)
    try:
        yield taken
    finally:
        if taken:
            slots.release()


def reap(everything: bool = False) -> service.Recovery:
    """Hand lost work back to the queue (run by every worker's reaper thread)."""
    settings = _settings()
    try:
        now = service.utcnow()
        found = service.reap(now, settings, everything=everything)
        db.session.commit()
        queue = dispatcher()
        # Chunks whose queued job vanished (e.g. Redis lost it) are queued again.
        grace = now - dt.timedelta(seconds=settings.chunk_timeout + settings.lease_grace)
        lost = [
            (report_id, day)
            for report_id, day in service.pending_chunks(grace)
            if (report_id, day) not in found.chunks
            and not queue.is_active(
                chunk_job_id(report_id, day), settings.chunk_timeout + settings.lease_grace
            )
        ]
        if lost:
            service.touch_chunks(lost)  # so the next pass waits a full grace period again
            db.session.commit()
            found.chunks.extend(lost)
            found.finalize.update(report_id for report_id, _ in lost)
        stamp = int(time.time() * 1000)
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
