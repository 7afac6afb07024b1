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
from functools import cache
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
    auto_closed: int = 0


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
    day_end_us: int | None = None,
) -> OracleDay:
    """One user's day; day_end_us is the instant of the school's day_end on day, if any."""
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
    auto_closed = 0
    day_end_has_come = day_end_us is not None and (
        day < today or (day == today and now_us >= day_end_us)
    )
    if state == "in" and day_end_us is not None and opened < day_end_us and day_end_has_come:
        # presence.md section 7: closed at day_end
        total = total + (day_end_us - opened)
        sessions.append((opened, day_end_us))
        auto_closed = 1
    elif state == "in":
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
        auto_closed=auto_closed,
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


# --- school life: marks, enrolments, day_end, late_after, per-user figures -----------------


@cache  # the walk is slow; its answer never changes
def oracle_wall_instant_us(day: date, hour: int, minute: int, tz: str) -> int:
    """The instant of the wall time hour:minute on day, by walking whole minutes.

    The first instant whose wall clock shows it (a repeated wall time: its first time);
    where the clock jumps over it, the wall time read with the offset in force just before
    the jump (what zoneinfo's fold=0 means). Exact where offsets and transitions fall on
    whole minutes, as in the zones and years the tests use."""
    wanted = datetime(day.year, day.month, day.day, hour, minute)
    # offsets lie within -12 h .. +14 h, so the instant is within a day of wanted-as-UTC
    t = wanted.replace(tzinfo=UTC) - timedelta(hours=15)
    stop = wanted.replace(tzinfo=UTC) + timedelta(hours=15)
    while t < stop:
        if t.astimezone(ZoneInfo(tz)).replace(tzinfo=None) == wanted:
            return to_us(t)
        t = t + timedelta(minutes=1)
    # skipped: find where the wall clock passes it, and read it with the offset before
    t = wanted.replace(tzinfo=UTC) - timedelta(hours=15)
    while t.astimezone(ZoneInfo(tz)).replace(tzinfo=None) < wanted:
        t = t + timedelta(minutes=1)
    before = (t - timedelta(minutes=1)).astimezone(ZoneInfo(tz)).utcoffset()
    assert before is not None
    return to_us(wanted.replace(tzinfo=UTC) - before)


def oracle_effective_mark(marks: list[Any], user_id: int, day: date) -> Any | None:
    """The latest entry for the user and date (by recorded instant, then sequence), by
    scanning the whole history; None when there is none or the latest is a clearing."""
    latest = None
    for m in marks:
        if m.user_id != user_id or m.day != day:
            continue
        if latest is None:
            latest = m
            continue
        mine = (to_us(m.recorded_at), m.sequence)
        theirs = (to_us(latest.recorded_at), latest.sequence)
        if mine > theirs:
            latest = m
    if latest is None or latest.status == "cleared":
        return None
    return latest


def oracle_enrolled(enrolments: dict[int, list[Any]] | None, user_id: int, day: date) -> bool:
    """Enrolled on day: no enrolment information, or a span covering it."""
    if enrolments is None or user_id not in enrolments:
        return True
    for first, last in enrolments[user_id]:
        after_first = first is None or day >= first
        before_last = last is None or day <= last
        if after_first and before_last:
            return True
    return False


@dataclass
class OracleLifeDay:
    enrolled: bool
    present: bool
    excused: bool
    late: bool
    day: OracleDay


def oracle_life_day(
    evs: list[OracleEvent],
    user_id: int,
    day: date,
    tz: str,
    now_us: int,
    min_hours: Decimal,
    enrolments: dict[int, list[Any]] | None,
    marks: list[Any],
    day_end: tuple[int, int] | None,
    late_after: tuple[int, int] | None,
) -> OracleLifeDay:
    """One user's facts on one date: presence.md sections 3, 5 and 7."""
    day_end_us = None if day_end is None else oracle_wall_instant_us(day, *day_end, tz)
    result = oracle_day(evs, user_id, day, tz, now_us, min_hours, day_end_us)
    effective = oracle_effective_mark(marks, user_id, day)
    if effective is None:
        present = result.present
    else:
        present = effective.status == "present"
    excused = False
    if not present and effective is not None:
        excused = effective.status == "absent" and effective.excused
    late = False
    if late_after is not None and effective is None and result.first_checkin_us is not None:
        late = result.first_checkin_us > oracle_wall_instant_us(day, *late_after, tz)
    return OracleLifeDay(
        enrolled=oracle_enrolled(enrolments, user_id, day),
        present=present,
        excused=excused,
        late=late,
        day=result,
    )


def chronic_by_decimal(absent: int, counted: int, ratio: Decimal, min_days: int) -> bool:
    """counted >= min_days and absent >= ratio * counted, in Decimal (exact here)."""
    return counted >= min_days and Decimal(absent) >= ratio * Decimal(counted)


def oracle_school_report(
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
    enrolments: dict[int, list[Any]] | None,
    marks: list[Any],
    day_end: tuple[int, int] | None,
    late_after: tuple[int, int] | None,
    chronic_ratio: Decimal,
    chronic_min_days: int,
) -> tuple[dict[str, Any], dict[int, dict[str, Any]], dict[date, dict[int, OracleLifeDay]]]:
    """The report in the shape of presence.md section 6, each user's figures (section 8),
    and each user's facts on each date."""
    evs = convert(events)
    now_us = to_us(now)
    today = local_date_of(now_us, tz)
    users = sorted(set(user_ids))
    life: dict[date, dict[int, OracleLifeDay]] = {}
    for d in all_dates(start, end):
        life[d] = {}
        for u in users:
            life[d][u] = oracle_life_day(
                evs, u, d, tz, now_us, min_hours, enrolments, marks, day_end, late_after
            )

    def is_counted(d: date) -> bool:
        return d.isoweekday() in school_days and d not in closures and d <= today

    def own_days(u: int, dates: list[date]) -> list[date]:
        return [d for d in dates if is_counted(d) and life[d][u].enrolled]

    def period(dates: list[date]) -> tuple[int, int | None, int | None]:
        """(counted days, users counted, users present) by rules 4 and 5."""
        counted = [d for d in dates if is_counted(d)]
        if not counted:
            return 0, None, None
        n_users = 0
        n_present = 0
        for u in users:
            own = own_days(u, dates)
            if own:
                n_users = n_users + 1
                hits = len([d for d in own if life[d][u].present])
                if more_than(hits, len(own), ratio):
                    n_present = n_present + 1
        return len(counted), n_users, n_present

    buckets: list[dict[str, Any]] = []
    for group in oracle_buckets(start, end, granularity):
        if granularity == "day":
            d = group[0]
            here = [u for u in users if life[d][u].enrolled]
            n_present = len([u for u in here if life[d][u].present])
            buckets.append(
                {
                    "date": d.isoformat(),
                    "school_day": d.isoweekday() in school_days and d not in closures,
                    "enrolled": len(here),
                    "present": n_present,
                    "absent": len(here) - n_present,
                    "excused": len([u for u in here if life[d][u].excused]),
                    "late": None
                    if late_after is None
                    else len([u for u in here if life[d][u].late]),
                }
            )
        else:
            counted, n_users, n_present = period(group)
            buckets.append(
                {
                    "start": group[0].isoformat(),
                    "end": group[-1].isoformat(),
                    "counted_days": counted,
                    "enrolled": n_users,
                    "present": n_present,
                    "absent": None if n_present is None or n_users is None else n_users - n_present,
                }
            )

    dates = all_dates(start, end)
    per_user: dict[int, dict[str, Any]] = {}
    for u in users:
        if not any(life[d][u].enrolled for d in dates):
            continue
        own = own_days(u, dates)
        hits = len([d for d in own if life[d][u].present])
        if start == end:
            user_present: bool | None = life[start][u].present
        elif own:
            user_present = more_than(hits, len(own), ratio)
        else:
            user_present = None
        streak = 0
        for d in reversed(own):
            if life[d][u].present:
                break
            streak = streak + 1
        absent = len(own) - hits
        per_user[u] = {
            "user_id": u,
            "present_days": hits,
            "counted_days": len(own),
            "present": user_present,
            "total_us": sum(life[d][u].day.total_us for d in dates),
            "absent_days": absent,
            "excused_days": len([d for d in own if life[d][u].excused]),
            "late_days": None if late_after is None else len([d for d in own if life[d][u].late]),
            "chronic": chronic_by_decimal(absent, len(own), chronic_ratio, chronic_min_days)
            if own
            else None,
            "absence_streak": streak if own else None,
        }
    if start == end:
        here = [u for u in users if life[start][u].enrolled]
        overall_users: int | None = len(here)
        overall: int | None = len([u for u in here if life[start][u].present])
    else:
        _counted, overall_users, overall = period(dates)
    report = {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "granularity": granularity,
        "enrolled": overall_users,
        "presences": overall,
        "absences": None if overall is None or overall_users is None else overall_users - overall,
        "chronic": len([u for u in per_user if per_user[u]["chronic"]]),
        "buckets": buckets,
    }
    return report, per_user, life
