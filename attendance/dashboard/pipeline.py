"""The dashboard's door to the report pipeline (attendance.services.reports and its jobs)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from flask import current_app

from .. import presence
from ..db_types import utcnow
from ..extensions import db
from ..jobs import reports as jobs
from ..jobs.queue import QueueUnavailable
from ..models import REPORT_FAILED, REPORT_FINISHED, Report, School
from ..services import reports as service

FINISHED, FAILED = REPORT_FINISHED, REPORT_FAILED
PIN_MAX_AGE = dt.timedelta(minutes=5)


def school_today(school: School) -> dt.date:
    """The school-local date of now."""
    return presence.local_today(utcnow(), school.timezone)


def report_for(
    school: School,
    start: dt.date,
    end: dt.date,
    granularity: str,
    pinned: Iterable[Report] = (),
) -> Report:
    """A report of the school for start..end: a pinned one that matches, else the pipeline's.

    The page that polled a report until it finished names it (pins it) when it fetches
    itself again, so it shows that report rather than asking for another. A pin is only
    honoured for a few minutes: an old link must not show old figures.

    When the queue is unavailable the report is failed, saying so, and the page shows it
    as it shows any failed report: the rest of the page does not need it.
    """
    wanted = (school.id, start, end, granularity)
    for record in pinned:
        if (
            (record.school_id, record.start, record.end, record.granularity) == wanted
            and record.status in (FINISHED, FAILED)
            and utcnow() - record.now <= PIN_MAX_AGE
        ):
            return record
    try:
        return jobs.submit(school, start, end, granularity)
    except QueueUnavailable as error:
        if error.report_id is None:
            raise
        return db.session.get_one(Report, error.report_id)


def settle(reports: Sequence[Report]) -> list[Report]:
    """The reports, after waiting a moment for them to finish (small ones do).

    A page that renders at once with its figures beats a progress bar flashing by; the
    wait is short (DASHBOARD_REPORT_WAIT seconds), and longer reports get the bar.
    """
    return jobs.wait_for(reports, float(current_app.config["DASHBOARD_REPORT_WAIT"]))


def day_results(report: Report) -> dict[dt.date, dict[int, presence.DayResult]]:
    """The pipeline's per-user DayResults of each date of a finished report (no sessions)."""
    return service.day_results(report.id)


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
        **service.progress(record),
        "error": record.error if record.status == FAILED else None,
    }
