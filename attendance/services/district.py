"""Many schools' dates at once: one query for all their events, enrolments and marks of a
date, grouped by school in Python, and decided by `attendance.presence` (no rule here).

The district overview (every school's today) and the district report's chunks (one date
of every school) read through these; a school's own report reads its dates one at a time
(services/reports/steps.py). Each school's date is its own local date: schools sharing a
timezone share the UTC bounds of their date.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import selectinload

from .. import presence
from ..extensions import db
from ..models import Attendance, Enrolment, Mark, School
from .reports import rules_for

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class SchoolDay:
    """One school's local date decided: its pairing (None without events) and its facts."""

    school: School
    rules: presence.Rules
    day: dt.date
    table: presence.DayTable | None
    facts: presence.DayFacts


def all_schools() -> list[School]:
    """Every school, by name, with its closures (one query for the closures)."""
    return list(
        db.session.scalars(
            select(School).options(selectinload(School.closures)).order_by(School.name, School.id)
        )
    )


def fetch(query: Any) -> Sequence[Any]:
    """All rows of a query; on PostgreSQL through psycopg's binary format (UTC datetimes
    made in C, about twice as fast on the hundred thousand rows of a district's date)."""
    connection = db.session.connection()
    if connection.dialect.name != "postgresql":
        return connection.execute(query).all()
    # IN lists rendered as one parameter each (psycopg gets no SQLAlchemy expanding).
    compiled = query.compile(
        dialect=connection.dialect, compile_kwargs={"render_postcompile": True}
    )
    driver: Any = connection.connection.driver_connection  # psycopg.Connection
    with driver.cursor(binary=True) as cursor:
        cursor.execute(str(compiled), compiled.params)
        return cursor.fetchall()


def _zones(
    days: Mapping[int, dt.date], schools: Iterable[School]
) -> dict[tuple[str, dt.date], list[int]]:
    """School ids by (timezone, local date): each group shares its date's UTC bounds."""
    groups: dict[tuple[str, dt.date], list[int]] = {}
    for school in schools:
        if school.id in days:
            groups.setdefault((school.timezone, days[school.id]), []).append(school.id)
    return groups


def _on_their_dates(days: Mapping[int, dt.date], schools: Iterable[School]) -> ColumnElement[bool]:
    """Events of each school within the bounds of its date."""
    conditions = []
    for (tz, day), ids in _zones(days, schools).items():
        start, end = presence.day_bounds(day, tz)
        conditions.append(
            and_(
                Attendance.school_id.in_(ids),
                Attendance.timestamp >= start,
                Attendance.timestamp < end,
            )
        )
    return or_(*conditions) if conditions else Attendance.id.is_(None)


def event_rows(
    days: Mapping[int, dt.date], schools: Iterable[School]
) -> dict[int, list[presence.Row]]:
    """Each school's events within its date's bounds, as (user_id, timestamp, id, type)."""
    schools = list(schools)
    query = select(
        Attendance.school_id, Attendance.user_id, Attendance.timestamp, Attendance.id,
        Attendance.type,
    ).where(_on_their_dates(days, schools))  # fmt: skip
    by_school: dict[int, list[presence.Row]] = {school.id: [] for school in schools}
    for school_id, user_id, ts, event_id, kind in fetch(query):
        by_school[school_id].append((user_id, ts, event_id, kind))
    return by_school


def enrolled_on(days: Mapping[int, dt.date]) -> dict[int, set[int]]:
    """The users enrolled at each school on its date (presence.md 5), archived and moved
    away ones included: one query, spans narrowed in SQL, decided by `presence.covers`."""
    if not days:
        return {}
    first, last = min(days.values()), max(days.values())
    query = select(Enrolment.school_id, Enrolment.user_id, Enrolment.from_, Enrolment.until).where(
        Enrolment.school_id.in_(list(days)),
        or_(Enrolment.from_.is_(None), Enrolment.from_ <= last),
        or_(Enrolment.until.is_(None), Enrolment.until >= first),
    )
    found: dict[int, set[int]] = {school_id: set() for school_id in days}
    for school_id, user_id, start, end in fetch(query):
        if presence.covers((start, end), days[school_id]):
            found[school_id].add(user_id)
    return found


def marks_on(days: Mapping[int, dt.date]) -> dict[int, list[presence.Mark]]:
    """The mark history of each school's date (the highest id is the effective entry)."""
    if not days:
        return {}
    query = select(
        Mark.id, Mark.school_id, Mark.user_id, Mark.date, Mark.status, Mark.excused
    ).where(Mark.school_id.in_(list(days)), Mark.date.in_(sorted(set(days.values()))))
    found: dict[int, list[presence.Mark]] = {}
    for mark_id, school_id, user_id, day, status, excused in db.session.execute(query):
        if days.get(school_id) == day:
            mark = presence.Mark(user_id, day, status, _EPOCH, mark_id, bool(excused))
            found.setdefault(school_id, []).append(mark)
    return found


def fever_counts(days: Mapping[int, dt.date], schools: Iterable[School]) -> dict[int, int]:
    """How many fever events each school had on its date (one grouped query)."""
    schools = list(schools)
    query = (
        select(Attendance.school_id, func.count(Attendance.id))
        .join(School, School.id == Attendance.school_id)
        .where(
            # Each school's own threshold: a column where is_fever usually takes a value.
            presence.is_fever(Attendance.temperature, cast(Decimal, School.fever_threshold)),
            _on_their_dates(days, schools),
        )
        .group_by(Attendance.school_id)
    )
    return {school_id: n for school_id, n in db.session.execute(query)}


def decide(
    schools: Collection[School],
    days: Mapping[int, dt.date],
    rules: Mapping[int, presence.Rules],
    now: dt.datetime,
    with_events: bool = True,
) -> list[SchoolDay]:
    """Each school's date paired and decided as of now (presence.day_table, day_facts):
    three queries for all of them. `with_events=False` decides without pairing (a date
    known to be empty or in the future)."""
    mine = [school for school in schools if school.id in days]
    rows = event_rows(days, mine) if with_events else {}
    enrolled = enrolled_on(days)
    marks = marks_on(days)
    decided = []
    for school in mine:
        day, rule = days[school.id], rules[school.id]
        found = rows.get(school.id)
        table = presence.day_table(found, day, rule, now) if found else None
        pairing = None if table is None else presence.DayTotals.of_table(table)
        facts = presence.day_facts(
            day, pairing, enrolled[school.id], rule, now, None, marks.get(school.id, ())
        )
        decided.append(SchoolDay(school, rule, day, table, facts))
    return decided


def today_of_every_school(now: dt.datetime) -> tuple[list[SchoolDay], dict[int, int]]:
    """Every school's local today decided as of now, and its fever events today."""
    schools = all_schools()
    days = {school.id: presence.local_today(now, school.timezone) for school in schools}
    rules = {school.id: rules_for(school) for school in schools}
    return decide(schools, days, rules, now), fever_counts(days, schools)
