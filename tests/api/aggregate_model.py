"""The model behind tests/api/test_aggregate_model.py: what the API was told, school by
school, and the figures the naive oracle (tests/unit/oracle.py) derives from it.

The enrolment and mark rules are written here from docs/presence.md (sections 3 and 5),
without looking at the services: what archiving, a move or an edit does to a pupil's
spans, and which requests must be refused, and on which field.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from tests.unit import oracle

Span = tuple[int, dt.date | None, dt.date | None]  # (school, from, until), both inclusive
ONE_DAY = dt.timedelta(days=1)
EPOCH = oracle.EPOCH  # every mark's recorded_at: the entries' order decides (their ids)
# The per-user fields of the aggregate's `users=true` list beside name, external_id, group.
USER_FIGURES = (
    "counted_days", "present_days", "absent_days", "excused_days", "late_days", "present",
    "chronic", "absence_streak",
)  # fmt: skip
ZONES = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "America/Santiago",
    "Australia/Lord_Howe",
    "Pacific/Kiritimati",
    "Pacific/Pago_Pago",
    "Asia/Kathmandu",
]
# Clocks in the past, where the tests' fake clock and the real one cannot meet.
EARLIEST = dt.datetime(2024, 1, 8, tzinfo=dt.UTC)
LATEST = dt.datetime(2026, 9, 1, tzinfo=dt.UTC)
# Session lengths: seconds after (or before) the school's min_daily_hours.
AROUND = [-7200, -1, 0, 1, 1800, 3 * 3600]
# Local times (minutes after midnight) that sessions start at.
STARTS = [0, 5, 60 * 7, 60 * 8 + 30, 60 * 14, 60 * 20]
HOURS = ["4", "0.5", "2.25", "3", "6"]
RATIOS = ["0.8", "0", "0.5", "0.667", "0.75", "0.999"]
# Wall times for day_end and late_after: midnight, DST changes' hours, school hours.
WALLS = [None, "00:00", "02:30", "03:00", "08:15", "08:30", "13:00", "16:00", "23:59"]
GROUPS = [None, "5A", "5B"]
FIGURES = ("from", "to", "granularity", "enrolled", "presences", "absences", "chronic", "buckets")


def today_at(now: dt.datetime, tz: str) -> dt.date:
    """The school-local date at `now`."""
    return oracle.local_date_of(oracle.to_us(now), tz)


def wall(text: str | None) -> tuple[int, int] | None:
    """ "HH:MM" as (hour, minute)."""
    if text is None:
        return None
    hour, minute = text.split(":")
    return int(hour), int(minute)


@dataclass
class SchoolModel:
    """A school's settings and closures, as the API was told them."""

    id: int
    tz: str
    school_days: set[int]
    min_hours: Decimal
    ratio: Decimal
    closures: dict[dt.date, int] = field(default_factory=dict)  # date -> closure id
    day_end: tuple[int, int] | None = None
    late_after: tuple[int, int] | None = None
    chronic_ratio: Decimal = Decimal("0.1")
    chronic_min_days: int = 10


@dataclass
class ModelMark:
    """One entry of the mark history, in the shape the oracle reads."""

    user_id: int
    day: dt.date
    status: str  # present, absent, cleared
    excused: bool
    recorded_at: dt.datetime
    sequence: int  # the order entries were appended in (the service's ids follow it)
    school_id: int


@dataclass
class Pupil:
    """A user: name and group now, school now, archived or not, and every enrolment."""

    name: str
    group: str | None
    school: int
    spans: list[Span]
    archived: bool = False

    def at(self, school: int) -> list[tuple[dt.date | None, dt.date | None]]:
        return [(first, last) for s, first, last in self.spans if s == school]

    def enrolled(self, school: int, day: dt.date) -> bool:
        return oracle.oracle_enrolled({0: self.at(school)}, 0, day)

    def end_at(self, school: int, today: dt.date) -> None:
        """Archive or move away (presence.md 5): each enrolment at the school that covers
        today or a later date ends the day before today."""
        for i, (s, first, last) in enumerate(self.spans):
            empty = first is not None and last is not None and last < first
            if s == school and not empty and (last is None or last >= today):
                self.spans[i] = (s, first, today - ONE_DAY)


def mark_refusal(
    school: SchoolModel,
    pupil: Pupil | None,
    status: str,
    excused: bool,
    days: tuple[dt.date, dt.date | None],
    today: dt.date,
) -> tuple[str | None, list[dt.date]]:
    """The field a mark request is refused on (None: accepted), and the dates it marks:
    `days` is (date, None) for one date, (from, to) for a range (api.md "Marks")."""
    if excused and status != "absent":
        return "excused", []
    if pupil is None or not pupil.at(school.id):
        return "user_id", []
    first, last = days
    if last is None:
        if status == "present" and first > today:
            return "date", []
        if not pupil.enrolled(school.id, first):
            return "date", []
        return None, [first]
    if status == "present" and last > today:
        return "to", []
    marked = [
        d
        for d in oracle.all_dates(first, last)
        if d.isoweekday() in school.school_days
        and d not in school.closures
        and pupil.enrolled(school.id, d)
    ]
    return ("from", []) if not marked else (None, marked)


def expected(
    school: SchoolModel,
    pupils: dict[int, Pupil],
    events: list[Any],
    marks: list[ModelMark],
    query: tuple[dt.date, dt.date, str],
    now: dt.datetime,
    group: str | None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The oracle's figures of the school for the query, and its `users=true` list."""
    start, end, granularity = query
    here = {u: p.at(school.id) for u, p in pupils.items() if p.at(school.id)}
    ids = [u for u in here if group is None or pupils[u].group == group]
    report, per_user, _life = oracle.oracle_school_report(
        events,
        ids,
        start,
        end,
        granularity,
        school.tz,
        school.school_days,
        set(school.closures),
        school.min_hours,
        school.ratio,
        now,
        here,
        [m for m in marks if m.school_id == school.id],
        school.day_end,
        school.late_after,
        school.chronic_ratio,
        school.chronic_min_days,
    )
    listed = [
        {
            "user_id": u,
            "name": pupils[u].name,
            "external_id": None,
            "group": pupils[u].group,
            **{k: figures[k] for k in USER_FIGURES},
        }
        for u, figures in sorted(per_user.items())
        if figures["counted_days"]
    ]
    return report, listed
