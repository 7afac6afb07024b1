"""The dashboard's door to the report pipeline (attendance.services.reports): it asks for
reports, commits them, and has their plans queued, as the API's aggregate route does."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from flask import current_app

from .. import clock, presence
from ..extensions import db
from ..jobs.queue import QueueUnavailable
from ..models import REPORT_FAILED, REPORT_FINISHED, Report, School
from ..services.reports import district, encoding, reading, requesting, settings_from

FINISHED, FAILED = REPORT_FINISHED, REPORT_FAILED
PIN_MAX_AGE = dt.timedelta(minutes=5)


def school_today(school: School) -> dt.date:
    """The school-local date of the instant the page's reports are computed as of (the
    next whole second, `requesting.now_for_report`): the API's today. In a day's last
    second, the clock's own date would be the day before the reports' today, and the
    page would show today's check-ins as last night's unclosed sessions."""
    return presence.local_today(requesting.now_for_report(), school.timezone)


def report_for(
    school: School,
    start: dt.date,
    end: dt.date,
    granularity: str,
    pinned: Iterable[Report] = (),
    users: bool = False,
    group: str | None = None,
) -> Report:
    """`requested_report` for a page: when the queue is unavailable, the report it failed
    (a page shows it as it shows any failed report: the rest of the page does not need it).
    """
    try:
        return requested_report(school, start, end, granularity, pinned, users, group)
    except QueueUnavailable as error:
        if error.report_id is None:
            raise
        return db.session.get_one(Report, error.report_id)


def requested_report(
    school: School,
    start: dt.date,
    end: dt.date,
    granularity: str,
    pinned: Iterable[Report] = (),
    users: bool = False,
    group: str | None = None,
) -> Report:
    """A report of the school for start..end: a pinned one that matches, else the pipeline's.
    With `users`, its document lists each counted user's figures (a report of its own);
    with `group`, every figure is of the users whose group it is.

    The page that polled a report until it finished names it (pins it) when it fetches
    itself again, so it shows that report rather than asking for another. A pin is only
    honoured for a few minutes: an old link must not show old figures.

    A new report is committed, then its plan queued. When the queue is unavailable the
    report is failed (committed) and QueueUnavailable raised: a 503 with Retry-After.
    """
    wanted = (school.id, start, end, granularity, group, users)
    for record in pinned:
        if (
            (
                record.school_id,
                record.start,
                record.end,
                record.granularity,
                record.group,
                record.with_users,
            )
            == wanted
            and record.status in (FINISHED, FAILED)
            and clock.now() - record.now <= PIN_MAX_AGE
        ):
            return record
    settings = settings_from(current_app.config)
    now = requesting.now_for_report()
    requested = requesting.request_report(
        school, start, end, granularity, now, settings, group=group, users=users
    )
    db.session.commit()  # before the plan is queued: its worker must find the row
    try:
        requested.after_commit()
    except QueueUnavailable:
        db.session.commit()  # the report, failed by after_commit: never left queued
        raise
    return requested.report


def settle(reports: Sequence[Report]) -> list[Report]:
    """The reports, after waiting a moment for them to finish (small ones do).

    A page that renders at once with its figures beats a progress bar flashing by; the
    wait is short (DASHBOARD_REPORT_WAIT seconds), and longer reports get the bar.
    """
    return requesting.wait_for(reports, float(current_app.config["DASHBOARD_REPORT_WAIT"]))


def day_results(report: Report) -> dict[dt.date, dict[int, presence.DayResult]]:
    """The pipeline's per-user DayResults of each date of a finished report (no sessions)."""
    return reading.day_results(report.id)


def day_facts(report: Report) -> dict[dt.date, presence.DayFacts]:
    """The pipeline's facts of each date of a finished report: who was enrolled, present,
    excused, late and auto-closed (marks, enrolments and day_end already applied)."""
    return {
        day: encoding.facts(day, cols) for day, cols in reading.stored_results(report.id).items()
    }


def load(report_ids: Iterable[str]) -> list[Report]:
    """The reports with these ids (unknown or malformed ids are skipped)."""
    records = []
    for report_id in report_ids:
        try:
            uuid.UUID(report_id)
        except ValueError:
            continue  # not an id: never let it reach a typed column
        record = db.session.get(Report, report_id)
        if record is not None:
            records.append(record)
    return records


def progress(record: Report) -> dict[str, Any]:
    """What the progress bar needs to know."""
    return {
        "id": record.id,
        "status": record.status,
        **reading.progress(record),
        "error": record.error if record.status == FAILED else None,
    }


def district_report(
    start: dt.date, end: dt.date, granularity: str, pinned: Iterable[Report] = ()
) -> Report:
    """The district report of start..end (every school): a pinned one that matches (as in
    `requested_report`), else the pipeline's; when the queue is unavailable, the report it
    failed (the page shows it as any failed report)."""
    for record in pinned:
        if (
            record.school_id is None
            and (record.start, record.end, record.granularity) == (start, end, granularity)
            and record.status in (FINISHED, FAILED)
            and clock.now() - record.now <= PIN_MAX_AGE
        ):
            return record
    settings = settings_from(current_app.config)
    requested = district.request_district_report(
        start, end, granularity, requesting.now_for_report(), settings
    )
    db.session.commit()  # before the plan is queued: its worker must find the row
    try:
        requested.after_commit()
    except QueueUnavailable as error:
        db.session.commit()  # the report, failed by after_commit: never left queued
        if error.report_id is None:
            raise
        return db.session.get_one(Report, error.report_id)
    return requested.report
