"""Demo schools and users from the generator's plans, found again (not duplicated) on a rerun."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import insert, select

from ..demo import PUBLIC_HOLIDAYS, SchoolPlan
from ..extensions import db
from ..models import School, User
from .schools import add_closure, bump_generation, create_school

HOLIDAY_NAMES = dict(
    zip(PUBLIC_HOLIDAYS, ("New Year's Day", "Labour Day", "Christmas Day"), strict=True)
)


def ensure_school(plan: SchoolPlan, start: dt.date, end: dt.date) -> School:
    """The plan's school (by name and timezone), created if missing, with its closures in range."""
    school = db.session.scalar(
        select(School)
        .where(School.name == plan.name, School.timezone == plan.timezone)
        .order_by(School.id)
        .limit(1)
    )
    if school is None:
        school = create_school(
            {"name": plan.name, "timezone": plan.timezone, "school_days": list(plan.school_days)}
        )
    for day in sorted(d for d in plan.closures if start <= d <= end):
        add_closure(school, day, HOLIDAY_NAMES.get((day.month, day.day), "Staff training day"))
    return school


def ensure_users(school_id: int, names: Sequence[str]) -> list[int]:
    """The ids of the school's active users with these names, enrolling the missing ones."""
    rows = db.session.execute(
        select(User.name, User.id)
        .where(User.school_id == school_id, User.deleted_at.is_(None))
        .order_by(User.id)
    )
    ids: dict[str, int] = {}
    for name, ident in rows:
        ids.setdefault(name, ident)
    missing = [name for name in names if name not in ids]
    if missing:
        stmt = insert(User).returning(User.id, sort_by_parameter_order=True)
        new_ids = db.session.scalars(stmt, [{"name": n, "school_id": school_id} for n in missing])
        ids.update(zip(missing, new_ids, strict=True))
        bump_generation(school_id)
    return [ids[name] for name in names]
