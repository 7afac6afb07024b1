"""The per-day cache's invalidation: every change to a school's date bumps its version."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy.dialects import postgresql, sqlite

from ..extensions import db
from ..models import DayVersion, School


def invalidate_day(school_id: int, timestamp: dt.datetime) -> None:
    """Bump the version of the school-local date of `timestamp` (atomic upsert)."""
    school = db.session.get(School, school_id)
    if school is None:
        return
    day = timestamp.astimezone(ZoneInfo(school.timezone)).date()
    insert = (
        postgresql.insert if db.session.get_bind().dialect.name == "postgresql" else sqlite.insert
    )
    stmt = insert(DayVersion).values(school_id=school_id, day=day, version=1)
    stmt = stmt.on_conflict_do_update(
        index_elements=[DayVersion.school_id, DayVersion.day],
        set_={"version": DayVersion.version + 1},
    )
    db.session.execute(stmt)
