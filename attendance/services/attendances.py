"""Recording and reading attendance events."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..models import Attendance, School, utcnow
from ..security.images import to_stored
from ..signals import attendances_recorded
from . import ServiceError
from .users import get_active

MAX_FUTURE = dt.timedelta(minutes=5)


def _find_by_key(school_id: int, key: str) -> Attendance | None:
    return db.session.scalar(
        select(Attendance).where(
            Attendance.school_id == school_id, Attendance.idempotency_key == key
        )
    )


def record_attendance(data: dict[str, Any], key: str | None = None) -> tuple[Attendance, bool]:
    """Store one event as sent; returns it and whether it is new (False: a retried key)."""
    received_at = utcnow()
    school_id = data["school_id"]
    key = key or data.get("client_event_id")
    if key is not None:
        existing = _find_by_key(school_id, key)
        if existing is not None:
            return existing, False
    if db.session.get(School, school_id) is None:
        raise ServiceError("school_id", f"school {school_id} does not exist")
    user = get_active(data["user_id"])
    if user is None:
        raise ServiceError("user_id", f"user {data['user_id']} does not exist")
    if user.school_id != school_id:
        raise ServiceError("user_id", f"user {user.id} does not belong to school {school_id}")
    timestamp = data.get("timestamp") or received_at
    if timestamp > received_at + MAX_FUTURE:
        raise ServiceError("timestamp", "must not be more than 5 minutes in the future")
    event = Attendance(
        user_id=user.id,
        school_id=school_id,
        type=data["type"],
        timestamp=timestamp,
        temperature=data["temperature"],
        image=to_stored(data.get("image")),
        received_at=received_at,
        idempotency_key=key,
    )
    try:
        with db.session.begin_nested():
            db.session.add(event)
    except IntegrityError:
        # Two requests with the same key raced; the other one's row is the answer.
        if key is None or (existing := _find_by_key(school_id, key)) is None:
            raise
        return existing, False
    touch_day(event)
    attendances_recorded.send(None, count=1)
    return event, True


def delete_attendance(event: Attendance) -> None:
    """Remove one event (a correction); the figures of its day are recomputed."""
    touch_day(event)
    db.session.delete(event)
    db.session.flush()


def touch_day(event: Attendance) -> None:
    """Mark the cached figures of the event's school and local date stale."""
    from .daycache import invalidate_day

    invalidate_day(event.school_id, event.timestamp)


def filtered(args: dict[str, Any]) -> Select[Attendance]:
    """The list query, filtered by school, user, type and time range, oldest first."""
    query = select(Attendance).order_by(Attendance.timestamp, Attendance.id)
    if "school_id" in args:
        query = query.where(Attendance.school_id == args["school_id"])
    if "user_id" in args:
        query = query.where(Attendance.user_id == args["user_id"])
    if "type" in args:
        query = query.where(Attendance.type == args["type"])
    if "from_" in args:
        query = query.where(Attendance.timestamp >= args["from_"])
    if "to" in args:
        query = query.where(Attendance.timestamp <= args["to"])
    return query
