"""The per-day cache's invalidation: every change to a school's date bumps its version.

One exception, for the ingest hot path: figures of a day are cached only once that day
is over in the school's timezone (services/reports/ stores summaries and fingerprints
for past days only, reading the versions before the events). A change that commits
while its day is still open cannot have been missed by a cached figure, so it needs no
bump; `still_open` says when that is certain, with a margin for the commit and for
clocks. Recording a check-in as it happens therefore skips the day-version upsert,
whose row lock would otherwise serialize every check-in of a school on its commit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy.dialects import postgresql, sqlite

from ..extensions import db
from ..models import DayVersion, School
from ..presence import local_date
from . import dialect

# How long before a day's end a change still counts as made while the day is open: far
# more than a transaction lasts or than server clocks drift apart.
OPEN_MARGIN = dt.timedelta(minutes=10)


def still_open(timezone: str, day: dt.date, now: dt.datetime) -> bool:
    """True when `day` is not over, and will not be for OPEN_MARGIN: nothing of it is cached."""
    return day >= local_date(now + OPEN_MARGIN, timezone)


def invalidate_day(school_id: int, timestamp: dt.datetime) -> None:
    """Bump the version of the school-local date of `timestamp` (atomic upsert)."""
    school = db.session.get(School, school_id)
    if school is None:
        return
    invalidate_days([(school_id, local_date(timestamp, school.timezone))])


def invalidate_days(days: Iterable[tuple[int, dt.date]]) -> None:
    """Bump the version of each (school, local date) once, in one statement.

    Rows are upserted in sorted order, so that concurrent transactions touching
    overlapping days lock them in the same order and cannot deadlock.
    """
    rows = [{"school_id": s, "day": d, "version": 1} for s, d in sorted(set(days))]
    if not rows:
        return
    insert = postgresql.insert if dialect() == "postgresql" else sqlite.insert
    stmt = insert(DayVersion).values(rows)
    stmt = stmt.on_conflict_do_update(
        index_elements=[DayVersion.school_id, DayVersion.day],
        set_={"version": DayVersion.version + 1},
    )
    db.session.execute(stmt)
