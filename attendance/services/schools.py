"""Schools and their closures."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import exists, select, update

from ..extensions import db
from ..models import Attendance, Closure, Enrolment, Mark, School, User
from . import Conflict

# Settings that change what the figures are; editing one makes cached figures stale.
# day_end and late_after change every date's figures (presence.md 7): the generation too.
# The chronic settings change no date, only a range's overall figure: reports.fingerprint
# includes them, so the day cache stays valid when they change.
RULE_FIELDS = frozenset(
    {"timezone", "school_days", "min_daily_hours", "period_ratio", "day_end", "late_after"}
)


def bump_generation(school_id: int) -> None:
    """Mark every cached figure of the school stale (settings, closures or enrolment changed)."""
    db.session.execute(
        update(School).where(School.id == school_id).values(generation=School.generation + 1)
    )


def create_school(data: dict[str, Any]) -> School:
    """Create a school from validated fields."""
    school = School(**data)
    if "school_days" in data:
        school.school_days = sorted(data["school_days"])
    db.session.add(school)
    db.session.flush()
    return school


def update_school(school: School, data: dict[str, Any]) -> School:
    """Apply validated fields; figures are invalidated when a rule changes."""
    if "school_days" in data:
        data = {**data, "school_days": sorted(data["school_days"])}
    changed = {k for k, v in data.items() if getattr(school, k) != v}
    for key, value in data.items():
        setattr(school, key, value)
    db.session.flush()
    if changed & RULE_FIELDS:
        bump_generation(school.id)
        db.session.refresh(school)
    return school


def delete_school(school: School) -> None:
    """Delete a school that has no users and no history; refuse otherwise."""
    has_history = any(
        db.session.scalar(select(exists().where(model.school_id == school.id)))
        for model in (Attendance, Enrolment, Mark)
    )
    has_users = db.session.scalar(select(exists().where(User.school_id == school.id)))
    if has_history or has_users:
        raise Conflict(
            "school still has users or attendance records; it cannot be deleted without "
            "losing history"
        )
    db.session.delete(school)
    db.session.flush()


def add_closure(school: School, day: dt.date, name: str | None) -> tuple[Closure, bool]:
    """Add a closure date; adding an existing date returns the existing one."""
    existing = db.session.scalar(
        select(Closure).where(Closure.school_id == school.id, Closure.date == day)
    )
    if existing is not None:
        return existing, False
    closure = Closure(school_id=school.id, date=day, name=name)
    db.session.add(closure)
    db.session.flush()
    bump_generation(school.id)
    return closure, True


def remove_closure(closure: Closure) -> None:
    """Remove a closure date."""
    school_id = closure.school_id
    db.session.delete(closure)
    db.session.flush()
    bump_generation(school_id)
