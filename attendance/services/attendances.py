"""Recording and reading attendance events."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..models import Attendance, School, utcnow
from . import ServiceError
from .users import get_active

MAX_FUTURE = dt.timedelta(minutes=5)


def _find_by_key(school_id: int, key: str) -> Attendance | None:
    return db.session.scalar(
        select(Attendance).where(
            Attendance.school_id == school_id, Attendance.idempotency_key == key
        )
    )


def check_event(
    data: Mapping[str, Any],
    *,
    school_found: bool,
    user_school_id: int | None,
    received_at: dt.datetime,
) -> None:
    """Refuse an event that breaks a rule (one event or a batch: the same rules and messages).

    `user_school_id` is the school of the active user named by `data["user_id"]`, or None
    when there is no such user (or it is archived).
    """
    school_id, user_id = data["school_id"], data["user_id"]
    if not school_found:
        raise ServiceError("school_id", f"school {school_id} does not exist")
    if user_school_id is None:
        raise ServiceError("user_id", f"user {user_id} does not exist")
    if user_school_id != school_id:
        raise ServiceError("user_id", f"user {user_id} does not belong to school {school_id}")
    timestamp = data.get("timestamp")
    if timestamp is not None and timestamp > received_at + MAX_FUTURE:
        raise ServiceError("timestamp", "must not be more than 5 minutes in the future")


def record_attendance(data: dict[str, Any], key: str | None = None) -> tuple[Attendance, bool]:
    """Store one event as sent; returns it and whether it is new (False: a retried key)."""
    received_at = utcnow()
    school_id = data["school_id"]
    key = key or data.get("client_event_id")
    if key is not None:
        existing = _find_by_key(school_id, key)
        if existing is not None:
            return existing, False
    user = get_active(data["user_id"])
    check_event(
        data,
        school_found=db.session.get(School, school_id) is not None,
        user_school_id=None if user is None else user.school_id,
        received_at=received_at,
    )
    timestamp = data.get("timestamp") or received_at
    event = Attendance(
        user_id=data["user_id"],
        school_id=school_id,
        type=data["type"],
        timestamp=timestamp,
        temperature=data["temperature"],
        image=data.get("image"),
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
