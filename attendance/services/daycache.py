"""The per-day cache's invalidation: every change to a school's date bumps its version."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from zoneinfo import ZoneInfo

from sqlalchemy.dialects import postgresql, sqlite

from ..extensions import db
from ..models import DayVersion, School


def local_day(timezone: str, timestamp: dt.datetime) -> dt.date:
    """The date `timestamp` falls on in `timezone` (ZoneInfo caches its instances)."""
    return timestamp.astimezone(ZoneInfo(timezone)).date()


def invalidate_day(school_id: int, timestamp: dt.datetime) -> None:
    """Bump the version of the school-local date of `timestamp` (atomic upsert)."""
    school = db.session.get(School, school_id)
    if school is None:
        return
    invalidate_days([(school_id, local_day(school.timezone, timestamp))])


def invalidate_days(days: Iterable[tuple[int, dt.date]]) -> None:
    """Bump the version of each (school, local date) once, in one statement.

    Rows are upserted in sorted order, so that concurrent transactions touching
    overlapping days lock them in the same order and cannot deadlock.
    """
    rows = [{"school_id": s, "day": d, "version": 1} for s, d in sorted(set(days))]
    if not rows:
        return
    insert = (
        postgresql.insert if db.session.get_bind().dialect.name == "postgresql" else sqlite.insert
    )
    stmt = insert(DayVersion).values(rows)
    stmt = stmt.on_conflict_do_update(
        index_elements=[DayVersion.school_id, DayVersion.day],
        set_={"version": DayVersion.version + 1},
    )
    db.session.execute(stmt)
