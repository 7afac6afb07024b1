"""One user's days in detail (sessions included), for the dashboard's pupil page."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from .. import presence
from ..extensions import db
from ..models import Attendance, School
from .fever import local_span
from .reports import rules_for


def readings(school: School, user_id: int, start: dt.date, end: dt.date) -> list[Attendance]:
    """The user's events at the school on local dates start..end, oldest first."""
    first, after = local_span(school, start, end)
    query = (
        select(Attendance)
        .where(
            Attendance.user_id == user_id,
            Attendance.school_id == school.id,
            Attendance.timestamp >= first,
            Attendance.timestamp < after,
        )
        .order_by(Attendance.timestamp, Attendance.id)
    )
    return list(db.session.scalars(query))


def user_days(
    school: School, events: list[Attendance], start: dt.date, end: dt.date, now: dt.datetime
) -> dict[dt.date, presence.DayResult]:
    """The user's DayResults by date, by the presence rules as of `now` (a report's `now`)."""
    if not events:
        return {}
    user_id = events[0].user_id
    results = presence.day_results_range(
        [presence.Event(e.id, e.user_id, e.type, e.timestamp) for e in events],
        start,
        end,
        rules_for(school),
        now,
    )
    return {day: by_user[user_id] for day, by_user in results.items() if user_id in by_user}
