"""Users: created, renamed, moved, archived; never deleted, so history stays whole."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select

from ..db_types import utcnow
from ..extensions import db
from ..models import School, User
from . import ServiceError
from .schools import bump_generation


def active_users() -> Select[User]:
    """Users that are not archived."""
    return select(User).where(User.deleted_at.is_(None))


def get_active(user_id: int) -> User | None:
    """The user if it exists and is not archived."""
    user = db.session.get(User, user_id)
    return user if user is not None and user.deleted_at is None else None


def _check_school(school_id: int) -> None:
    if db.session.get(School, school_id) is None:
        raise ServiceError("school_id", f"school {school_id} does not exist")


def create_user(data: dict[str, Any]) -> User:
    """Enrol a user in a school."""
    _check_school(data["school_id"])
    user = User(**data)
    db.session.add(user)
    db.session.flush()
    bump_generation(user.school_id)
    return user


def update_user(user: User, data: dict[str, Any]) -> User:
    """Rename a user or move them to another school."""
    old_school = user.school_id
    if "school_id" in data and data["school_id"] != old_school:
        _check_school(data["school_id"])
    for key, value in data.items():
        setattr(user, key, value)
    db.session.flush()
    if user.school_id != old_school:
        bump_generation(old_school)
        bump_generation(user.school_id)
    return user


def archive_user(user: User) -> None:
    """Archive a user: hidden and no longer counted, their attendance history kept."""
    user.deleted_at = utcnow()
    db.session.flush()
    bump_generation(user.school_id)
