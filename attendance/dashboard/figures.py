"""Reading a finished report for the pages: pure functions, no rule applied here.

Everything comes from what the report pipeline stored (the API document plus `per_user`,
`quality` and `in_school_now`) or from `attendance.presence` DayResults; these functions
only look figures up, count them or reshape them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from ..presence import DayResult
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


def calendar_statuses(
    days: Mapping[dt.date, DayResult],
    school_days: Mapping[dt.date, bool],
    today: dt.date,
) -> dict[dt.date, str]:
    """present / absent / off / future for each date, from one user's DayResults."""
    statuses = {}
    for day, school_day in school_days.items():
        result = days.get(day)
        if day > today:
            statuses[day] = "future"
        elif result is not None and result.present:
            statuses[day] = "present"  # also on a day off: they were there
        else:
            statuses[day] = "absent" if school_day else "off"
    return statuses


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
