"""Fever events: attendances whose temperature reaches their school's fever threshold."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import selectinload

from ..extensions import db
from ..models import Attendance, School
from ..presence import day_bounds, is_fever


def local_span(school: School, start: dt.date, end: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The UTC instants [first, after) covering the school-local dates start..end."""
    return day_bounds(start, school.timezone)[0], day_bounds(end, school.timezone)[1]


def _of(school: School, start: dt.date, end: dt.date) -> list[ColumnElement[bool]]:
    """Conditions: the school's events on local dates start..end."""
    first, after = local_span(school, start, end)
    return [
        Attendance.school_id == school.id,
        Attendance.timestamp >= first,
        Attendance.timestamp < after,
    ]


def _fever(school: School) -> ColumnElement[bool]:
    return is_fever(Attendance.temperature, school.fever_threshold)


def fever_events(school: School, start: dt.date, end: dt.date) -> Select[Any]:
    """Fever events of the school on local dates start..end, oldest first."""
    return (
        select(Attendance)
        .where(_fever(school), *_of(school, start, end))
        .options(selectinload(Attendance.user))
        .order_by(Attendance.timestamp, Attendance.id)
    )


def fever_count(school: School, start: dt.date, end: dt.date) -> int:
    """How many fever events the school had on local dates start..end."""
    query = select(func.count(Attendance.id)).where(_fever(school), *_of(school, start, end))
    return db.session.scalar(query) or 0


def temperature_counts(school: School, start: dt.date, end: dt.date) -> list[tuple[Decimal, int]]:
    """Each temperature read at the school on local dates start..end, with how often."""
    query = (
        select(Attendance.temperature, func.count(Attendance.id))
        .where(*_of(school, start, end))
        .group_by(Attendance.temperature)
        .order_by(Attendance.temperature)
    )
    return [(Decimal(t), n) for t, n in db.session.execute(query)]
