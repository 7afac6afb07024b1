"""Reading a finished report for the pages: pure functions, no rule applied here.

Everything comes from what the report pipeline stored (the API document plus `per_user`,
`quality` and `in_school_now`) or from `attendance.presence` DayResults; these functions
only look figures up, count them or reshape them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from ..presence import DayFacts, DayResult
from ..services.overview import SchoolToday

Result = Mapping[str, Any]


def percent(part: int | None, whole: int | None) -> float | None:
    """part / whole in percent, one decimal; None without a figure."""
    if part is None or not whole:
        return None
    return round(100 * part / whole, 1)


@dataclass(frozen=True)
class Today:
    """A school's figures for today (from a one-day report)."""

    enrolled: int
    in_school: int
    present: int | None
    absent: int | None
    rate: float | None
    fever_alerts: int
    school_day: bool | None


def today_figures(result: Result, fever_alerts: int) -> Today:
    """Enrolled, in school now, present, absent and the rate, from a report of today."""
    bucket: Mapping[str, Any] = result["buckets"][0] if result["buckets"] else {}
    return Today(
        enrolled=result["enrolled"],
        in_school=result.get("in_school_now") or 0,
        present=result["presences"],
        absent=result["absences"],
        rate=percent(result["presences"], result["enrolled"]),
        fever_alerts=fever_alerts,
        school_day=bucket.get("school_day"),
    )


def today_of(school: SchoolToday) -> Today:
    """The same figures from the overview's snapshot (services/overview.py)."""
    return Today(
        enrolled=school.enrolled,
        in_school=school.in_school,
        present=school.present,
        absent=school.absent,
        rate=percent(school.present, school.enrolled),
        fever_alerts=school.fever_alerts,
        school_day=school.school_day,
    )


@dataclass(frozen=True)
class Quality:
    """Anomalies of one date: checkouts with no open session, sessions never closed."""

    day: dt.date
    orphan_checkouts: int
    unclosed: int


def data_quality(result: Result) -> list[Quality]:
    """The dates of the report that have anomalies, in order."""
    return [
        Quality(dt.date.fromisoformat(q["date"]), q["orphan_checkouts"], q["unclosed"])
        for q in result.get("quality", [])
        if q["orphan_checkouts"] or q["unclosed"]
    ]


def enrolled_ids(result: Result) -> set[int]:
    """The users the report counted."""
    return {int(u) for u in result.get("per_user", {})}


def arrival_minutes(
    days: Mapping[dt.date, Mapping[int, DayResult]], counted: Collection[int], timezone: str
) -> list[int]:
    """Each counted user's first check-in of each date, in minutes after local midnight."""
    zone = ZoneInfo(timezone)
    minutes = []
    for by_user in days.values():
        for user_id, r in by_user.items():
            if r.first_checkin is not None and user_id in counted:
                local = r.first_checkin.astimezone(zone)
                minutes.append(local.hour * 60 + local.minute)
    return minutes


@dataclass(frozen=True)
class UserFigures:
    """One user over the report's range."""

    present_days: int
    counted_days: int
    rate: float | None
    present: bool | None
    hours: float


def user_figures(result: Result, user_id: int) -> UserFigures | None:
    """The report's summary of one user (None if the report did not count them)."""
    summary = result.get("per_user", {}).get(str(user_id))
    if summary is None:
        return None
    return UserFigures(
        present_days=summary["present_days"],
        counted_days=summary["counted_days"],
        rate=percent(summary["present_days"], summary["counted_days"]),
        present=summary["present"],
        hours=round(float(summary["seconds"]) / 3600, 1),
    )


@dataclass(frozen=True)
class MarkNote:
    """An admin's effective mark on a date, as the calendar tells it."""

    status: str
    excused: bool
    reason: str
    by: str


@dataclass(frozen=True)
class CalendarDay:
    """One date of a pupil's calendar: what the report decided, and why.

    status is present / absent / excused / off / not_enrolled / future."""

    status: str
    late: bool = False
    auto_closed: bool = False
    mark: MarkNote | None = None


def calendar_days(
    facts: Mapping[dt.date, DayFacts],
    user_id: int,
    school_days: Mapping[dt.date, bool],
    today: dt.date,
    marks: Mapping[dt.date, MarkNote] | None = None,
) -> dict[dt.date, CalendarDay]:
    """Each date of the range for one user, read from the report's per-date facts (marks,
    enrolments, late arrivals and day_end applied by the pipeline), with their marks."""
    marks = marks or {}
    days = {}
    for day, school_day in school_days.items():
        f, mark = facts.get(day, _NO_FACTS), marks.get(day)
        enrolled = user_id in f.enrolled
        if day > today:
            # Nobody is present yet: only a planned absence says anything.
            status = "future"
            if enrolled and mark is not None:
                status = "excused" if user_id in f.excused else "absent"
        elif not enrolled:
            status = "not_enrolled"
        elif user_id in f.present:
            status = "present"  # also on a day off: they were there
        elif user_id in f.excused:
            status = "excused"
        else:
            status = "absent" if school_day or mark is not None else "off"
        days[day] = CalendarDay(
            status=status,
            late=f.late is not None and user_id in f.late,
            auto_closed=user_id in f.auto_closed,
            mark=mark,
        )
    return days


_NO_FACTS = DayFacts(dt.date.min, frozenset(), frozenset(), frozenset(), None, {})


def late_per_bucket(
    buckets: Sequence[Mapping[str, Any]],
    facts: Mapping[dt.date, DayFacts],
    counted: Collection[int],
) -> list[int]:
    """Late arrivals (a counted user late on a date) in each bucket of a report, day,
    week or month alike, from the report's per-date facts."""
    mine = set(counted)
    out = []
    for b in buckets:
        first = dt.date.fromisoformat(b.get("date") or b["start"])
        last = dt.date.fromisoformat(b.get("date") or b["end"])
        out.append(
            sum(
                len(f.late & mine)
                for day, f in facts.items()
                if first <= day <= last and f.late is not None
            )
        )
    return out


def auto_closed(
    facts: Mapping[dt.date, DayFacts], counted: Collection[int]
) -> dict[dt.date, list[int]]:
    """The counted users whose session was closed at day_end (a forgotten check-out), by date."""
    mine = set(counted)
    found = {}
    for day, f in sorted(facts.items()):
        users = sorted(f.auto_closed & mine)
        if users:
            found[day] = users
    return found


AT_RISK_STREAK = 3  # absent this many counted days running: worth a call home


def at_risk(result: Result) -> list[Mapping[str, Any]]:
    """The pupils of a report listing its users (users=true) who are chronically absent
    or on an absence streak of AT_RISK_STREAK or more: longest streak first, then by name."""
    rows = [
        user
        for user in result.get("users") or []
        if user["chronic"] or user["absence_streak"] >= AT_RISK_STREAK
    ]
    return sorted(rows, key=lambda u: (-u["absence_streak"], u["name"].casefold(), u["user_id"]))
