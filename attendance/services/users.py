"""Users: created, renamed, moved, archived; never deleted, so history stays whole.

Each change of where a user is counted goes through their enrolments (presence.md 5).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Select, and_, case, exists, or_, select

from .. import clock
from ..extensions import db
from ..models import Enrolment, School, User
from ..presence import local_date
from . import ServiceError
from . import enrolments as spans

SPAN_FIELDS = ("enrolled_from", "enrolled_until")


def active_users() -> Select[User]:
    """Users that are not archived."""
    return select(User).where(User.deleted_at.is_(None))


def listed_users(archived: bool = False, now: dt.datetime | None = None) -> Select[User]:
    """Pupils enrolled at their school today or later (`archived`: every user)."""
    if archived:
        return select(User)
    now = now or clock.now()
    zones = db.session.scalars(select(School.timezone).distinct()).all()
    today = case(
        {zone: local_date(now, zone) for zone in zones},
        value=School.timezone,
    )
    enrolled_now_or_later = (
        exists()
        .where(
            Enrolment.user_id == User.id,
            Enrolment.school_id == User.school_id,
            School.id == User.school_id,
            or_(Enrolment.until.is_(None), Enrolment.until >= today),
            or_(
                Enrolment.from_.is_(None),
                Enrolment.until.is_(None),
                Enrolment.from_ <= Enrolment.until,
            ),
        )
        .correlate(User)
    )
    return select(User).where(and_(User.deleted_at.is_(None), enrolled_now_or_later))


def get_active(user_id: int) -> User | None:
    """The user if it exists and is not archived."""
    user = db.session.get(User, user_id)
    return user if user is not None and user.deleted_at is None else None


def _school(school_id: int) -> School:
    school = db.session.get(School, school_id)
    if school is None:
        raise ServiceError("school_id", f"school {school_id} does not exist")
    return school


def _check_external_id(school_id: int, external_id: str | None, user_id: int | None) -> None:
    if external_id is None:
        return
    taken = select(User.id).where(User.school_id == school_id, User.external_id == external_id)
    if user_id is not None:
        taken = taken.where(User.id != user_id)
    if db.session.scalar(select(exists(taken))):
        raise ServiceError("external_id", "is already used by another pupil of this school")


def create_user(data: dict[str, Any], now: dt.datetime | None = None) -> User:
    """Enrol a new user in a school, from `enrolled_from` until `enrolled_until` (None: open)."""
    data = dict(data)
    first, last = (data.pop(f, None) for f in SPAN_FIELDS)
    school = _school(data["school_id"])
    spans.check_span(first, last)
    _check_external_id(school.id, data.get("external_id"), None)
    user = User(**data)
    db.session.add(user)
    db.session.flush()
    spans.open_enrolment(user, school, first, last, now)
    return user


def update_user(user: User, data: dict[str, Any], now: dt.datetime | None = None) -> User:
    """Rename a user, edit their latest enrolment, or move them to another school.

    A move ends their enrolments at the old school (as archiving does) and opens one at
    the new school from its local today, or from the `enrolled_from` given.
    """
    data = dict(data)
    span = {f: data.pop(f) for f in SPAN_FIELDS if f in data}
    old_school = user.school
    moving = "school_id" in data and data["school_id"] != user.school_id
    school = _school(data["school_id"]) if moving else old_school
    external_id = data.get("external_id", user.external_id)
    if moving or "external_id" in data:
        _check_external_id(school.id, external_id, user.id)
    if moving:
        first = span.get("enrolled_from", spans.school_today(school, now))
        spans.check_span(first, span.get("enrolled_until"))
    elif span:
        spans.edit_latest(user, school, span, now)
    for key, value in data.items():
        setattr(user, key, value)
    db.session.flush()
    if moving:
        spans.end_at(user, old_school, now)
        spans.open_enrolment(user, school, first, span.get("enrolled_until"), now)
    return user


def archive_user(user: User, now: dt.datetime | None = None) -> None:
    """Archive a user: hidden, and no longer enrolled from today; their history is kept."""
    now = now or clock.now()
    user.deleted_at = now
    spans.end_at(user, user.school, now)
    db.session.flush()
