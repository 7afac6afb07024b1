"""Reports: requested, split into one chunk per local date, combined; the database is their
record. These modules do the work and flush; the routes and jobs that call them commit.

How a report goes (fan out per date, fan in once):

1. `requesting.request_report` stores a report row, or finds an identical one in flight
   or a finished one of unchanged past data to share. The route commits, then runs
   `Requested.after_commit`, which queues the plan job (a worker must find the row).
2. `steps.plan` (job `plan_report`) makes one chunk row per local date: future, empty
   and cached dates are done at once; each other date gets one chunk job (`compute_day`).
3. `steps.start_chunk` takes the chunk's lease, `steps.compute_chunk` pairs the date's
   events, decides the date with its enrolments and marks (`presence.day_facts`) and
   stores both in the chunk row (and the day cache). The chunk job that then
   finds no chunk of its report left waiting or running (`steps.ready_to_finalize`)
   queues the final step. No job waits on another.
4. `steps.finalize` (job `finalize_report`) combines the dates with `presence.combine`
   and stores the finished document on the report row (`reading` defines its shape), or
   fails the report with the first failed date's error. Waiting requests are woken.
5. `recovery.reap`, run by every worker every few seconds, hands back work whose worker
   was lost (expired leases, vanished jobs, quiet reports) and fails overdue reports.

Every step is idempotent: run twice, or again after a lost worker, it changes nothing.
`encoding` is how a date's per-user results are stored; `reading` what readers get.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from ... import clock, presence
from ...config import Config
from ...extensions import db
from ...models import REPORT_FAILED, REPORT_QUEUED, REPORT_RUNNING, DayVersion, Report, School

IN_FLIGHT = (REPORT_QUEUED, REPORT_RUNNING)


@dataclass(frozen=True)
class Settings:
    """The pipeline's knobs, from the app config (see `settings_from`); the defaults are
    `Config`'s, their one home."""

    chunk_timeout: int = Config.REPORT_CHUNK_TIMEOUT  # seconds a chunk job may run
    # seconds past the timeout before a running chunk counts as lost
    lease_grace: int = Config.REPORT_LEASE_GRACE
    # tries per chunk, failures and lost workers together
    chunk_attempts: int = Config.REPORT_CHUNK_ATTEMPTS
    deadline: int = Config.REPORT_DEADLINE  # seconds after which an unfinished report fails


def settings_from(config: Any) -> Settings:
    """Read the pipeline settings from a Flask config mapping (missing ones: the defaults)."""
    return Settings(
        chunk_timeout=int(config.get("REPORT_CHUNK_TIMEOUT", Settings.chunk_timeout)),
        lease_grace=int(config.get("REPORT_LEASE_GRACE", Settings.lease_grace)),
        chunk_attempts=int(config.get("REPORT_CHUNK_ATTEMPTS", Settings.chunk_attempts)),
        deadline=int(config.get("REPORT_DEADLINE", Settings.deadline)),
    )


def rules_for(school: School) -> presence.Rules:
    """The presence rules of a school, with its closures."""
    return presence.Rules(
        timezone=school.timezone,
        school_days=frozenset(school.school_days),
        closures=frozenset(c.date for c in school.closures),
        min_daily_hours=school.min_daily_hours,
        period_ratio=school.period_ratio,
        day_end=school.day_end,
        late_after=school.late_after,
        chronic_ratio=school.chronic_ratio,
        chronic_min_days=school.chronic_min_days,
    )


def day_versions(school_id: int, start: dt.date, end: dt.date) -> dict[dt.date, int]:
    """The school's day versions of start..end (a date never bumped is absent: version 0)."""
    rows = db.session.execute(
        select(DayVersion.day, DayVersion.version).where(
            DayVersion.school_id == school_id, DayVersion.day.between(start, end)
        )
    )
    return {day: version for day, version in rows}


def locked_report(report_id: str) -> Report | None:
    """The report row, locked until the transaction ends (steps and reapers may race)."""
    return db.session.scalar(select(Report).where(Report.id == report_id).with_for_update())


def fail(report: Report, message: str) -> None:
    """Mark the report failed; its in-flight key is freed, so the next request starts anew."""
    report.status = REPORT_FAILED
    report.error = message
    report.finished_at = clock.now()
    report.inflight_key = None
