"""Entry points into the presence rules that only the tests use: one user's day, one
date's results from events or from rows, and a report's figures as the API writes them.

The service pairs a date's rows with `presence.day_table`; these give the same figures as
DayResults (sessions included), which the rules' tests and the oracle compare.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any

from attendance import presence
from attendance.presence import DayResult, Event, Row, Rules
from attendance.services.reports.reading import BucketSchema, FiguresSchema


def pair_day(
    user_id: int, events: Iterable[Event], day: date, rules: Rules, now: datetime
) -> DayResult:
    """Pair one user's events of one local date and decide presence (rules 2 and 3)."""
    now_utc = presence._utc(now, "now")
    rows = [
        (user_id, presence._utc(e.timestamp), e.id, e.type)
        for d, e in presence._counted_events(events, rules, now_utc)
        if d == day and e.user_id == user_id
    ]
    today = presence.local_date(now_utc, rules.timezone)
    found = presence._results(rows, day, today, rules, now_utc, keep_sessions=True)
    if user_id in found:
        return found[user_id]
    return DayResult(user_id, day, timedelta(), False, False, 0, 0, (), None)


def day_results(
    events: Iterable[Event], day: date, rules: Rules, now: datetime
) -> dict[int, DayResult]:
    """Per-user results of one local date, for users with counted events on it."""
    rows = ((e.user_id, e.timestamp, e.id, e.type) for e in events)
    return day_results_rows(rows, day, rules, now, keep_sessions=True)


def day_results_rows(
    rows: Iterable[Row], day: date, rules: Rules, now: datetime, keep_sessions: bool = False
) -> dict[int, DayResult]:
    """day_results over database rows (user_id, timestamp, id, type) in any order; rows of
    other dates and after now are left out. Without keep_sessions, results carry no
    session list."""
    now_utc = presence._utc(now, "now")
    today = presence.local_date(now_utc, rules.timezone)
    mine = presence._rows_of(rows, day, rules, now_utc)
    return presence._results(mine, day, today, rules, now_utc, keep_sessions)


_SCHOOL_LIFE = ("enrolled", "excused", "late")


def report_dict(report: presence.Report) -> dict[str, Any]:
    """A report's figures in the shape before school life (the rules' older tests and
    oracle_report): `enrolled` the users of the range, no `chronic`, buckets without
    the school-life fields. The API's shape is life_report_dict (FiguresSchema)."""
    doc = FiguresSchema().dump(report)
    doc["enrolled"] = report.enrolled
    doc.pop("chronic")
    doc["buckets"] = [bucket_dict(b) for b in report.buckets]
    return doc


def bucket_dict(bucket: presence.Bucket) -> dict[str, Any]:
    """One bucket in the shape before school life."""
    return {k: v for k, v in BucketSchema().dump(bucket).items() if k not in _SCHOOL_LIFE}


def life_bucket_dict(bucket: presence.Bucket, granularity: str) -> dict[str, Any]:
    """A bucket in the school-life shape (enrolled; excused and late on days), until the
    report schema carries those fields."""
    if granularity == presence.DAY:
        head: dict[str, Any] = {"date": bucket.start.isoformat(), "school_day": bucket.school_day}
    else:
        start, end = bucket.start.isoformat(), bucket.end.isoformat()
        head = {"start": start, "end": end, "counted_days": bucket.counted_days}
    body = {"enrolled": bucket.enrolled, "present": bucket.present, "absent": bucket.absent}
    if granularity == presence.DAY:
        body |= {"excused": bucket.excused, "late": bucket.late}
    return {**head, **body}


def life_report_dict(report: presence.Report) -> dict[str, Any]:
    """A report in the school-life shape: overall `enrolled` is the users counted in the
    range, and `chronic`."""
    return {
        "from": report.start.isoformat(),
        "to": report.end.isoformat(),
        "granularity": report.granularity,
        "enrolled": report.counted_users,
        "presences": report.presences,
        "absences": report.absences,
        "chronic": report.chronic,
        "buckets": [life_bucket_dict(b, report.granularity) for b in report.buckets],
    }
