"""Marks: an admin's decisions about one user on one date (presence.md 3), kept as history.

Entries are appended, never changed: the effective mark of a user on a date is the entry
with the highest id for that user and date, unless it is a clearing. Every entry bumps
the day version of its date at once, today's and future dates included, so that no
cached or shared computation outlives it (api.md: "changes the figures of its date at
once, cached or not").
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Select, func, select

from ..extensions import db
from ..inputs import MAX_RANGE_DAYS
from ..models import (
    MARK_ABSENT,
    MARK_CLEARED,
    MARK_PRESENT,
    Closure,
    Mark,
    School,
    User,
)
from . import ServiceError
from . import enrolments as spans
from .daycache import invalidate_days


def record(
    school: School, data: dict[str, Any], created_by: str, now: dt.datetime | None = None
) -> list[Mark]:
    """Record a mark on one date, or one per school day of a range on which the user is
    enrolled (a planned absence); refuse the whole request when a rule is broken."""
    status, excused = data["status"], data.get("excused", False)
    if excused and status != MARK_ABSENT:
        raise ServiceError("excused", "may be true only for an absent mark")
    user_id = data["user_id"]
    enrolments = spans.of_user(user_id, school.id)
    if not enrolments or db.session.get(User, user_id) is None:
        # The message of the event check: no user and another school's user look alike.
        raise ServiceError("user_id", f"user {user_id} does not exist in school {school.id}")
    today = spans.school_today(school, now)
    enrolled = [(e.from_, e.until) for e in enrolments]
    days = _days(school, data, status, today, enrolled)
    marks = [
        Mark(
            user_id=user_id,
            school_id=school.id,
            date=day,
            status=status,
            reason=data["reason"],
            excused=excused,
            created_by=created_by,
        )
        for day in days
    ]
    db.session.add_all(marks)
    db.session.flush()
    invalidate_days((school.id, day) for day in days)
    return marks


def _days(
    school: School,
    data: dict[str, Any],
    status: str,
    today: dt.date,
    enrolled: list[spans.Span],
) -> list[dt.date]:
    """The dates the request marks, or a ServiceError naming the field at fault."""
    day, first, last = data.get("date"), data.get("from_"), data.get("to")
    if day is not None:
        if first is not None or last is not None:
            raise ServiceError("date", "give either date, or from and to, not both")
        if status == MARK_PRESENT and day > today:
            raise ServiceError("date", "a present mark may not be given for a date after today")
        if not any(spans.covers(s, day) for s in enrolled):
            raise ServiceError("date", "the user is not enrolled at this school on that date")
        return [day]
    if first is None and last is None:
        raise ServiceError("date", "is required (or from and to)")
    if first is None or last is None:
        field = "from" if first is None else "to"
        raise ServiceError(field, "is required with the other end of the range")
    if last < first:
        raise ServiceError("to", "must not be before from")
    if (last - first).days + 1 > MAX_RANGE_DAYS:
        raise ServiceError("to", f"a range may span at most {MAX_RANGE_DAYS} days")
    if status == MARK_PRESENT and last > today:
        raise ServiceError("to", "a present mark may not be given for a date after today")
    closed = set(
        db.session.scalars(
            select(Closure.date).where(
                Closure.school_id == school.id, Closure.date.between(first, last)
            )
        )
    )
    weekdays = set(school.school_days)
    days = [
        d
        for d in (first + dt.timedelta(days=n) for n in range((last - first).days + 1))
        if d.isoweekday() in weekdays
        and d not in closed
        and any(spans.covers(s, d) for s in enrolled)
    ]
    if not days:
        raise ServiceError(
            "from", "the range holds no school day on which the user is enrolled at this school"
        )
    return days


def clear(mark: Mark, created_by: str) -> Mark | None:
    """Clear the effective mark of the entry's user and date (a `cleared` entry).

    Nothing is appended when the latest entry is a clearing already (clearing twice is
    clearing once).
    """
    latest = db.session.scalar(
        select(Mark)
        .where(
            Mark.user_id == mark.user_id, Mark.date == mark.date, Mark.school_id == mark.school_id
        )
        .order_by(Mark.id.desc())
        .limit(1)
    )
    if latest is not None and latest.status == MARK_CLEARED:
        return None
    entry = Mark(
        user_id=mark.user_id,
        school_id=mark.school_id,
        date=mark.date,
        status=MARK_CLEARED,
        reason=None,
        excused=False,
        created_by=created_by,
    )
    db.session.add(entry)
    db.session.flush()
    invalidate_days([(mark.school_id, mark.date)])
    return entry


def listed(school_id: int, args: dict[str, Any]) -> Select[Any]:
    """The school's effective marks (`history`: every entry), by date, user, then id."""
    query = select(Mark).where(Mark.school_id == school_id)
    if "user_id" in args:
        query = query.where(Mark.user_id == args["user_id"])
    if "from_" in args:
        query = query.where(Mark.date >= args["from_"])
    if "to" in args:
        query = query.where(Mark.date <= args["to"])
    if args.get("history"):
        return query.order_by(Mark.id)
    latest = (
        query.with_only_columns(func.max(Mark.id))
        .group_by(Mark.user_id, Mark.date)
        .scalar_subquery()
    )
    return (
        select(Mark)
        .where(Mark.id.in_(latest), Mark.status != MARK_CLEARED)
        .order_by(Mark.date, Mark.user_id, Mark.id)
    )


def creator(token_id: int | None, admin_id: int | None) -> str:
    """How an entry names who recorded it: `token:<id>` or `admin:<id>`."""
    if token_id is not None:
        return f"token:{token_id}"
    if admin_id is not None:
        return f"admin:{admin_id}"
    raise ValueError("a mark needs a token or an admin behind it")


__all__ = ["MARK_ABSENT", "MARK_CLEARED", "MARK_PRESENT", "clear", "creator", "listed", "record"]
