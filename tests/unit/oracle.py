"""A deliberately naive re-derivation of docs/presence.md, written without looking at presence.py.

Everything is plain loops over integers: instants become whole microseconds since the
epoch, ratios are compared by cross-multiplying integers, buckets are found by walking
dates one at a time, and day boundaries by walking minutes. It is slow and obviously
right; the property tests compare the real module to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_US = timedelta(microseconds=1)
US_PER_HOUR = 3600 * 1000 * 1000


def to_us(ts: datetime) -> int:
    """Whole microseconds since the epoch (subtracting across tzinfos compares instants)."""
    return (ts - EPOCH) // ONE_US


def from_us(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


def local_date_of(us: int, tz: str) -> date:
    """The wall-clock date at that instant in tz."""
    return from_us(us).astimezone(ZoneInfo(tz)).date()


@dataclass
class OracleEvent:
    id: int
    user_id: int
    type: str
    us: int


@dataclass
class OracleDay:
    total_us: int
    present: bool
    checked_in_now: bool
    orphan_checkouts: int
    unclosed: int
    sessions: list[tuple[int, int | None]]
    first_checkin_us: int | None


def convert(events: list[Any]) -> list[OracleEvent]:
    """Copy presence.Event-like objects into plain integer events."""
    return [OracleEvent(e.id, e.user_id, e.type, to_us(e.timestamp)) for e in events]


def insertion_sorted(events: list[OracleEvent]) -> list[OracleEvent]:
    """Order by instant, then id; equal keys keep their input order."""
    out: list[OracleEvent] = []
    for e in events:
        i = 0
        while i < len(out) and (out[i].us, out[i].id) <= (e.us, e.id):
            i += 1
        out.insert(i, e)
    return out


def more_than(numerator: int, denominator: int, limit: Decimal) -> bool:
    """numerator / denominator > limit, by integer cross-multiplication."""
    top, bottom = limit.as_integer_ratio()
    return numerator * bottom > top * denominator


def oracle_day(
    events: list[OracleEvent],
    user_id: int,
    day: date,
    tz: str,
    now_us: int,
    min_hours: Decimal,
) -> OracleDay:
    today = local_date_of(now_us, tz)
    mine = []
    for e in events:
        if e.user_id != user_id:
            continue
        if e.us > now_us:
            continue
        if local_date_of(e.us, tz) != day:
            continue
        mine.append(e)
    state = "out"
    opened = 0
    total = 0
    orphans = 0
    sessions: list[tuple[int, int | None]] = []
    for e in insertion_sorted(mine):
        if state == "out" and e.type == "checkin":
            state = "in"
            opened = e.us
        elif state == "in" and e.type == "checkin":
            pass
        elif state == "in" and e.type == "checkout":
            total = total + (e.us - opened)
            sessions.append((opened, e.us))
            state = "out"
        elif state == "out" and e.type == "checkout":
            orphans = orphans + 1
        else:
            raise AssertionError(e)
    checked_in_now = False
    unclosed = 0
    if state == "in":
        sessions.append((opened, None))
        if day == today:
            checked_in_now = True
            total = total + (now_us - opened)
        elif day < today:
            unclosed = 1
    if day > today:
        present = False
    else:
        present = more_than(total, US_PER_HOUR, min_hours) or (day == today and checked_in_now)
    return OracleDay(
        total_us=total,
        present=present,
        checked_in_now=checked_in_now,
        orphan_checkouts=orphans,
        unclosed=unclosed,
        sessions=sessions,
        first_checkin_us=sessions[0][0] if sessions else None,
    )


def all_dates(start: date, end: date) -> list[date]:
    out = []
    d = start
    while d <= end:
        out.append(d)
        d = d + timedelta(days=1)
    return out


def bucket_key(d: date, granularity: str) -> Any:
    if granularity == "day":
        return d
    if granularity == "week":
        iso = d.isocalendar()
        return (iso[0], iso[1])
    if granularity == "month":
        return (d.year, d.month)
    raise ValueError(granularity)


def oracle_buckets(start: date, end: date, granularity: str) -> list[list[date]]:
    """Walk the dates, starting a new bucket whenever the week/month key changes."""
    groups: list[list[date]] = []
    for d in all_dates(start, end):
        if groups and bucket_key(groups[-1][-1], granularity) == bucket_key(d, granularity):
            groups[-1].append(d)
        else:
            groups.append([d])
    return groups


def oracle_report(
    events: list[Any],
    user_ids: list[int],
    start: date,
    end: date,
    granularity: str,
    tz: str,
    school_days: set[int],
    closures: set[date],
    min_hours: Decimal,
    ratio: Decimal,
    now: datetime,
) -> tuple[dict[str, Any], dict[int, tuple[int, int, bool | None, int]]]:
    """The API dict of the report, and per user (present_days, counted_days, present, total_us)."""
    evs = convert(events)
    now_us = to_us(now)
    today = local_date_of(now_us, tz)
    enrolled = sorted(set(user_ids))
    present: dict[tuple[int, date], bool] = {}
    totals: dict[int, int] = {u: 0 for u in enrolled}
    for u in enrolled:
        for d in all_dates(start, end):
            result = oracle_day(evs, u, d, tz, now_us, min_hours)
            present[(u, d)] = result.present
            totals[u] = totals[u] + result.total_us

    def is_counted(d: date) -> bool:
        return d.isoweekday() in school_days and d not in closures and d <= today

    def period(dates: list[date]) -> tuple[int, dict[int, int], int | None]:
        counted = [d for d in dates if is_counted(d)]
        hits = {u: len([d for d in counted if present[(u, d)]]) for u in enrolled}
        if not counted:
            return 0, hits, None
        n = len([u for u in enrolled if more_than(hits[u], len(counted), ratio)])
        return len(counted), hits, n

    buckets = []
    for group in oracle_buckets(start, end, granularity):
        if granularity == "day":
            d = group[0]
            n = len([u for u in enrolled if present[(u, d)]])
            buckets.append(
                {
                    "date": d.isoformat(),
                    "school_day": d.isoweekday() in school_days and d not in closures,
                    "present": n,
                    "absent": len(enrolled) - n,
                }
            )
        else:
            counted, _hits, n_present = period(group)
            buckets.append(
                {
                    "start": group[0].isoformat(),
                    "end": group[-1].isoformat(),
                    "counted_days": counted,
                    "present": n_present,
                    "absent": None if n_present is None else len(enrolled) - n_present,
                }
            )
    counted, hits, overall = period(all_dates(start, end))
    per_user: dict[int, tuple[int, int, bool | None, int]] = {}
    for u in enrolled:
        if start == end:
            user_present: bool | None = present[(u, start)]
        elif counted == 0:
            user_present = None
        else:
            user_present = more_than(hits[u], counted, ratio)
        per_user[u] = (hits[u], counted, user_present, totals[u])
    if start == end:
        overall = len([u for u in enrolled if present[(u, start)]])
    report = {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "granularity": granularity,
        "enrolled": len(enrolled),
        "presences": overall,
        "absences": None if overall is None else len(enrolled) - overall,
        "buckets": buckets,
    }
    return report, per_user


def oracle_day_bounds(day: date, tz: str) -> tuple[datetime, datetime] | None:
    """First and one-past-last instant of day, by walking whole minutes; None if never.

    Exact when offsets and transitions fall on whole minutes, as they do in the years
    the tests use; the caller checks the minute next to each edge at microsecond level.
    """
    naive_midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
    t = naive_midnight - timedelta(hours=27)
    stop = naive_midnight + timedelta(hours=51)
    first = None
    last = None
    while t < stop:
        if t.astimezone(ZoneInfo(tz)).date() == day:
            if first is None:
                first = t
            last = t
        t = t + timedelta(minutes=1)
    if first is None or last is None:
        return None
    return first, last + timedelta(minutes=1)
