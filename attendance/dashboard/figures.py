"""Reading a finished report's result for the pages: pure functions, no rules applied.

Everything here looks figures up in the result the report pipeline stored (the API
document plus `per_user` and `days`, which hold `attendance.presence` DayResults) and
counts or reshapes them; nothing here decides whether anybody is present.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

Result = Mapping[str, Any]


def _key(user_id: int | str) -> str:
    # The result went through JSON: its user ids are strings.
    return str(user_id)


def enrolled_ids(result: Result) -> set[str]:
    """The users the report counted."""
    return {_key(u) for u in result.get("per_user", {})}


def day_results(result: Result, day: dt.date) -> dict[str, Mapping[str, Any]]:
    """The DayResults (as dicts) of one date, by user id, for counted users only."""
    counted = enrolled_ids(result)
    days = result.get("days", {}).get(day.isoformat(), {})
    return {_key(u): r for u, r in days.items() if _key(u) in counted}


def iter_days(result: Result) -> Iterator[tuple[dt.date, dict[str, Mapping[str, Any]]]]:
    """Every date of the result that has DayResults, in order."""
    counted = enrolled_ids(result)
    for iso in sorted(result.get("days", {})):
        by_user = result["days"][iso]
        yield (
            dt.date.fromisoformat(iso),
            {_key(u): r for u, r in by_user.items() if _key(u) in counted},
        )


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


def today_figures(result: Result, today: dt.date, fever_alerts: int) -> Today:
    """Enrolled, in school now, present, absent and the rate of a report for today."""
    bucket: Mapping[str, Any] = next(
        (b for b in result.get("buckets", []) if b.get("date") == today.isoformat()), {}
    )
    in_school = sum(bool(r["checked_in_now"]) for r in day_results(result, today).values())
    return Today(
        enrolled=result["enrolled"],
        in_school=in_school,
        present=result["presences"],
        absent=result["absences"],
        rate=percent(result["presences"], result["enrolled"]),
        fever_alerts=fever_alerts,
        school_day=bucket.get("school_day"),
    )


@dataclass(frozen=True)
class Quality:
    """Anomalies of one date: checkouts with no open session, sessions never closed."""

    day: dt.date
    orphan_checkouts: int
    unclosed: int


def data_quality(result: Result) -> list[Quality]:
    """The dates that have anomalies, in order."""
    rows = []
    for day, by_user in iter_days(result):
        orphans = sum(int(r["orphan_checkouts"]) for r in by_user.values())
        unclosed = sum(int(r["unclosed"]) for r in by_user.values())
        if orphans or unclosed:
            rows.append(Quality(day, orphans, unclosed))
    return rows


def arrival_minutes(result: Result, timezone: str) -> list[int]:
    """Each first check-in of the range, as minutes after local midnight."""
    zone = ZoneInfo(timezone)
    minutes = []
    for _day, by_user in iter_days(result):
        for r in by_user.values():
            if r.get("first_checkin"):
                local = dt.datetime.fromisoformat(r["first_checkin"]).astimezone(zone)
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
    summary = result.get("per_user", {}).get(_key(user_id))
    if summary is None:
        return None
    return UserFigures(
        present_days=summary["present_days"],
        counted_days=summary["counted_days"],
        rate=percent(summary["present_days"], summary["counted_days"]),
        present=summary["present"],
        hours=round(float(summary["seconds"]) / 3600, 1),
    )


def user_days(result: Result, user_id: int) -> dict[dt.date, Mapping[str, Any]]:
    """One user's DayResults (as dicts) by date."""
    key = _key(user_id)
    return {
        dt.date.fromisoformat(iso): by_user[key]
        for iso, by_user in sorted(result.get("days", {}).items())
        if key in by_user
    }


def calendar_statuses(result: Result, user_id: int, today: dt.date) -> dict[dt.date, str]:
    """present / absent / off / future for each date of a day-granularity report."""
    mine = user_days(result, user_id)
    statuses = {}
    for bucket in result.get("buckets", []):
        day = dt.date.fromisoformat(bucket["date"])
        if day > today:
            statuses[day] = "future"
        elif mine.get(day, {}).get("present"):
            statuses[day] = "present"  # also on a day off: they were there
        else:
            statuses[day] = "absent" if bucket["school_day"] else "off"
    return statuses
