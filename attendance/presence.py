"""The presence rules of spec/presence.md as pure functions: no I/O, no clock."""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from fractions import Fraction
from functools import cache, lru_cache
from typing import Any
from zoneinfo import ZoneInfo

CHECKIN = "checkin"
CHECKOUT = "checkout"
DAY, WEEK, MONTH = "day", "week", "month"
GRANULARITIES = (DAY, WEEK, MONTH)

_US, _HOUR, _ONE_DAY = timedelta(microseconds=1), timedelta(hours=1), timedelta(days=1)


def _utc(ts: datetime, what: str = "timestamp") -> datetime:
    """Return the aware instant ts in UTC; naive values are refused, not guessed."""
    if ts.tzinfo is UTC:
        return ts  # the common case (the database hands back UTC): nothing to convert
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got {ts!r}")
    # Why UTC: datetimes sharing one tzinfo compare and subtract by wall clock,
    # which is wrong across a DST fold.
    return ts.astimezone(UTC)


def _as_decimal(value: object, name: str) -> Decimal:
    """Coerce a threshold to an exact, finite, non-negative Decimal."""
    if isinstance(value, float):
        # Why repr: Decimal(0.7) is 0.6999..., which would make 7/10 "more than 0.7".
        value = repr(value)
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
        raise TypeError(f"{name} must be a Decimal, got {value!r}")
    try:
        result = Decimal(value)
    except ArithmeticError:  # decimal.InvalidOperation for text that is no number
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not result.is_finite() or result < 0:
        raise ValueError(f"{name} must be finite and >= 0, got {value!r}")
    return result


_zone = cache(ZoneInfo)  # ZoneInfo's own cache is weak: keep the zones in use alive


def zone(name: str) -> ZoneInfo:
    """Return the ZoneInfo for an IANA name (cached; unknown names raise)."""
    # A typed wrapper: a cache-decorated function would accept any argument for mypy.
    return _zone(name)


@dataclass(frozen=True, slots=True)
class Event:
    """One checkin or checkout of one user at one instant."""

    id: int
    user_id: int
    type: str
    timestamp: datetime

    def __post_init__(self) -> None:
        if self.type not in (CHECKIN, CHECKOUT):
            raise ValueError(f"event type must be {CHECKIN!r} or {CHECKOUT!r}, got {self.type!r}")
        _utc(self.timestamp)


@dataclass(frozen=True, slots=True)
class Rules:
    """A school's calendar and thresholds."""

    timezone: str = "UTC"
    school_days: frozenset[int] = frozenset({1, 2, 3, 4, 5})
    closures: frozenset[date] = frozenset()
    min_daily_hours: Decimal = Decimal(4)
    period_ratio: Decimal = Decimal("0.8")

    def __post_init__(self) -> None:
        zone(self.timezone)  # fail on an unknown zone now, not mid-report
        days = frozenset(self.school_days)
        if not all(isinstance(d, int) and 1 <= d <= 7 for d in days):
            raise ValueError(f"school_days must be ISO weekdays 1..7, got {sorted(days)!r}")
        closures = frozenset(self.closures)
        if not all(type(c) is date for c in closures):
            raise TypeError("closures must be dates")
        # Frozen, so coercions go through object.__setattr__.
        object.__setattr__(self, "school_days", days)
        object.__setattr__(self, "closures", closures)
        for name in ("min_daily_hours", "period_ratio"):
            object.__setattr__(self, name, _as_decimal(getattr(self, name), name))

    @property
    def zone(self) -> ZoneInfo:
        """The school's ZoneInfo."""
        return zone(self.timezone)


@dataclass(frozen=True, slots=True)
class Session:
    """A checkin and its checkout (None: still open now, or never closed that day)."""

    start: datetime
    end: datetime | None


def _iso(ts: datetime | None) -> str | None:
    return None if ts is None else ts.isoformat()


def _parse(ts: str | None) -> datetime | None:
    return None if ts is None else _utc(datetime.fromisoformat(ts))


def _micros(delta: timedelta) -> int:
    return delta // _US


def _total_fields(total: timedelta) -> dict[str, Any]:
    # total_us is exact; seconds is for display.
    return {"total_us": _micros(total), "seconds": total.total_seconds()}


@dataclass(frozen=True, slots=True)
class DayResult:
    """One user's pairing and presence on one local date."""

    user_id: int
    day: date
    total: timedelta
    present: bool
    checked_in_now: bool
    orphan_checkouts: int
    unclosed: int
    sessions: tuple[Session, ...]
    first_checkin: datetime | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "user_id": self.user_id,
            "day": self.day.isoformat(),
            **_total_fields(self.total),
            "present": self.present,
            "checked_in_now": self.checked_in_now,
            "orphan_checkouts": self.orphan_checkouts,
            "unclosed": self.unclosed,
            "sessions": [{"start": _iso(s.start), "end": _iso(s.end)} for s in self.sessions],
            "first_checkin": _iso(self.first_checkin),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DayResult:
        """Inverse of to_dict."""
        sessions = tuple(
            Session(_utc(datetime.fromisoformat(s["start"])), _parse(s["end"]))
            for s in d["sessions"]
        )
        return cls(
            user_id=int(d["user_id"]),
            day=date.fromisoformat(d["day"]),
            total=timedelta(microseconds=int(d["total_us"])),
            present=bool(d["present"]),
            checked_in_now=bool(d["checked_in_now"]),
            orphan_checkouts=int(d["orphan_checkouts"]),
            unclosed=int(d["unclosed"]),
            sessions=sessions,
            first_checkin=_parse(d["first_checkin"]),
        )


def local_date(ts: datetime, tz: str) -> date:
    """The school-local calendar date of an instant (rule 1)."""
    return _utc(ts).astimezone(zone(tz)).date()


def local_today(now: datetime, tz: str) -> date:
    """The school-local date of now."""
    return local_date(now, tz)


def _offset(t: datetime, z: ZoneInfo) -> timedelta:
    # A ZoneInfo always knows the offset of an aware instant; `or` only satisfies the type.
    return t.astimezone(z).utcoffset() or timedelta()


def _constant_offset_spans(
    lo: datetime, hi: datetime, z: ZoneInfo
) -> list[tuple[datetime, datetime, timedelta]]:
    """Split [lo, hi) into spans of constant UTC offset, cut to the microsecond."""
    # Hourly probes suffice: the tz database never has two transitions within an hour.
    spans = []
    span_start, span_offset = lo, _offset(lo, z)
    t = lo
    while t < hi:
        probe = min(t + _HOUR, hi)
        if _offset(probe, z) == span_offset:
            t = probe
            continue
        before, after = t, probe  # offset(before) == span_offset != offset(after)
        while after - before > _US:
            mid = before + (after - before) // 2
            if _offset(mid, z) == span_offset:
                before = mid
            else:
                after = mid
        spans.append((span_start, after, span_offset))
        span_start, span_offset, t = after, _offset(after, z), after
    spans.append((span_start, hi, span_offset))
    return spans


def day_bounds(day: date, tz: str) -> tuple[datetime, datetime]:
    """UTC [start, end) holding exactly the instants whose local date is day (see below)."""
    return _day_bounds(day, tz)


@lru_cache(maxsize=65536)
def _day_bounds(day: date, tz: str) -> tuple[datetime, datetime]:
    # Why not "midnight to midnight": local midnight can be skipped (Santiago),
    # repeated, or crossed backwards by a transition (Goose Bay until 2010 fell back
    # from 00:01 to 23:01). Each constant-offset span contributes an exact piece.
    z = zone(tz)
    midnight = datetime.combine(day, time(), tzinfo=UTC)  # day's wall midnight read as UTC
    # |offset| < 24 h, so every instant of day lies in (midnight - 1 day, midnight + 2 days).
    spans = _constant_offset_spans(midnight - _ONE_DAY, midnight + 2 * _ONE_DAY, z)
    pieces = []
    for span_start, span_end, offset in spans:
        start = max(span_start, midnight - offset)
        end = min(span_end, midnight + _ONE_DAY - offset)
        if start < end:
            pieces.append((start, end))
    if pieces:
        # Where the date goes backwards (Goose Bay, Casey 2010) this is the hull: every
        # instant of day, and those of the day before that fall between its pieces.
        return min(p[0] for p in pieces), max(p[1] for p in pieces)
    # The date never happens locally (Pacific/Apia skipped 2011-12-30): an empty
    # interval at the instant the calendar jumps over it.
    jump = min(
        max(span_start, midnight + _ONE_DAY - offset)
        for span_start, span_end, offset in spans
        if midnight + _ONE_DAY - offset < span_end
    )
    return jump, jump


@lru_cache(maxsize=256)
def _threshold_us(min_daily_hours: Decimal) -> int:
    """floor(min_daily_hours in microseconds): for a whole number x of microseconds,
    x > t exactly when x > floor(t), so one integer comparison decides rule 3."""
    return math.floor(Fraction(min_daily_hours) * 3_600_000_000)


@lru_cache(maxsize=256)
def _ratio(ratio: Decimal) -> tuple[int, int]:
    """The ratio as an exact fraction p / q."""
    exact = Fraction(_as_decimal(ratio, "ratio"))
    return exact.numerator, exact.denominator


def _present_on(day: date, total: timedelta, in_now: bool, today: date, rules: Rules) -> bool:
    """Rule 3, compared exactly (no float); nobody is present on a date after today."""
    if day > today:
        return False
    return _micros(total) > _threshold_us(rules.min_daily_hours) or (day == today and in_now)


def _counted_events(
    events: Iterable[Event], rules: Rules, now_utc: datetime
) -> Iterable[tuple[date, Event]]:
    """Events not after now, with their local date."""
    z = rules.zone
    for e in events:
        ts = _utc(e.timestamp)
        if ts <= now_utc:
            yield ts.astimezone(z).date(), e


def _pair(
    user_id: int, events: Iterable[Event], day: date, rules: Rules, now_utc: datetime
) -> DayResult:
    """Rules 2 and 3 over events known to be this user's, on day, not after now."""
    today = local_date(now_utc, rules.timezone)
    ordered = sorted(((_utc(e.timestamp), e.id, e.type) for e in events), key=lambda x: x[:2])
    total = timedelta()
    sessions: list[Session] = []
    open_at: datetime | None = None
    orphans = 0
    for ts, _id, kind in ordered:
        if kind == CHECKIN:
            if open_at is None:
                open_at = ts
        elif open_at is None:
            orphans += 1
        else:
            total += ts - open_at
            sessions.append(Session(open_at, ts))
            open_at = None
    checked_in_now = open_at is not None and day == today
    unclosed = int(open_at is not None and day < today)
    if open_at is not None:
        sessions.append(Session(open_at, None))
        if checked_in_now:
            total += now_utc - open_at
    return DayResult(
        user_id=user_id,
        day=day,
        total=total,
        present=_present_on(day, total, checked_in_now, today, rules),
        checked_in_now=checked_in_now,
        orphan_checkouts=orphans,
        unclosed=unclosed,
        sessions=tuple(sessions),
        first_checkin=sessions[0].start if sessions else None,
    )


def pair_day(
    user_id: int, events: Iterable[Event], day: date, rules: Rules, now: datetime
) -> DayResult:
    """Pair one user's events of one local date and decide presence (rules 2 and 3)."""
    now_utc = _utc(now, "now")
    mine = [
        e for d, e in _counted_events(events, rules, now_utc) if d == day and e.user_id == user_id
    ]
    return _pair(user_id, mine, day, rules, now_utc)


def day_results_range(
    events: Iterable[Event], start: date, end: date, rules: Rules, now: datetime
) -> dict[date, dict[int, DayResult]]:
    """day_results for every date in start..end that has counted events, in one pass."""
    now_utc = _utc(now, "now")
    grouped: dict[date, dict[int, list[Event]]] = {}
    for d, e in _counted_events(events, rules, now_utc):
        if start <= d <= end:
            grouped.setdefault(d, {}).setdefault(e.user_id, []).append(e)
    return {
        d: {u: _pair(u, evs, d, rules, now_utc) for u, evs in sorted(by_user.items())}
        for d, by_user in sorted(grouped.items())
    }


def day_results(
    events: Iterable[Event], day: date, rules: Rules, now: datetime
) -> dict[int, DayResult]:
    """Per-user results of one local date, for users with counted events on it."""
    return day_results_range(events, day, day, rules, now).get(day, {})


def is_school_day(day: date, rules: Rules) -> bool:
    """The weekday is a school day and the date is not a closure."""
    return day.isoweekday() in rules.school_days and day not in rules.closures


def _dates(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def counted_days(start: date, end: date, rules: Rules, today: date) -> list[date]:
    """School days in start..end that are not after today (rule 4)."""
    return [d for d in _dates(start, end) if d <= today and is_school_day(d, rules)]


def period_present(present_days: int, counted: int, ratio: Decimal) -> bool | None:
    """Rule 4: present_days / counted > ratio strictly; None without counted days."""
    if not 0 <= present_days <= counted:
        raise ValueError(f"need 0 <= present_days <= counted, got {present_days}/{counted}")
    if counted == 0:
        return None
    p, q = _ratio(ratio)
    return present_days * q > p * counted  # present_days / counted > p / q, in integers


def _check_range(start: date, end: date, granularity: str) -> None:
    if granularity not in GRANULARITIES:
        raise ValueError(f"granularity must be one of {GRANULARITIES}, got {granularity!r}")
    if start > end:
        raise ValueError(f"start {start} is after end {end}")


def bucket_ranges(start: date, end: date, granularity: str) -> list[tuple[date, date]]:
    """Inclusive (first, last) of each day/ISO week/month meeting start..end, clipped."""
    _check_range(start, end, granularity)
    ranges = []
    first = start
    while first <= end:
        if granularity == DAY:
            last = first
        elif granularity == WEEK:
            last = first + timedelta(days=7 - first.isoweekday())
        else:
            after = date(first.year + first.month // 12, first.month % 12 + 1, 1)
            last = after - _ONE_DAY
        last = min(last, end)
        ranges.append((first, last))
        first = last + _ONE_DAY
    return ranges


@dataclass(frozen=True, slots=True)
class Bucket:
    """One day (school_day set) or one week/month (counted_days set) of a report."""

    start: date
    end: date
    school_day: bool | None
    counted_days: int | None
    present: int | None
    absent: int | None

    def to_dict(self, granularity: str) -> dict[str, Any]:
        """The API shape of this bucket for the report's granularity."""
        _check_range(self.start, self.end, granularity)
        if granularity == DAY:
            head: dict[str, Any] = {"date": self.start.isoformat(), "school_day": self.school_day}
        else:
            start, end = self.start.isoformat(), self.end.isoformat()
            head = {"start": start, "end": end, "counted_days": self.counted_days}
        return {**head, "present": self.present, "absent": self.absent}


@dataclass(frozen=True, slots=True)
class UserSummary:
    """One enrolled user over a report's range."""

    user_id: int
    present_days: int  # counted days (rule 4) on which the user was present
    counted_days: int
    present: bool | None  # rule 3 for a single date, rule 4 otherwise
    total: timedelta  # time over every date of the range, up to now

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "user_id": self.user_id,
            "present_days": self.present_days,
            "counted_days": self.counted_days,
            "present": self.present,
            **_total_fields(self.total),
        }


@dataclass(frozen=True, slots=True)
class Report:
    """Buckets and the overall figure of an aggregate request."""

    start: date
    end: date
    granularity: str
    enrolled: int
    presences: int | None
    absences: int | None
    buckets: tuple[Bucket, ...]
    per_user: dict[int, UserSummary]

    def to_dict(self) -> dict[str, Any]:
        """The API shape (per_user is not part of it)."""
        return {
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "granularity": self.granularity,
            "enrolled": self.enrolled,
            "presences": self.presences,
            "absences": self.absences,
            "buckets": [b.to_dict(self.granularity) for b in self.buckets],
        }


def aggregate(
    user_ids: Collection[int],
    days: Mapping[date, Mapping[int, DayResult]],
    start: date,
    end: date,
    granularity: str,
    rules: Rules,
    now: datetime,
) -> Report:
    """Apply rules 3 to 6 to enrolled users over start..end."""
    _check_range(start, end, granularity)
    enrolled = frozenset(user_ids)
    today = local_today(now, rules.timezone)
    dates = _dates(start, end)
    # Recomputed from total and checked_in_now so this call's rules and now decide.
    present_on: dict[date, frozenset[int]] = {
        d: frozenset(
            u
            for u, r in days.get(d, {}).items()
            if u in enrolled and _present_on(d, r.total, r.checked_in_now, today, rules)
        )
        for d in dates
    }

    def period(first: date, last: date) -> tuple[int, dict[int, int]]:
        counted = counted_days(first, last, rules, today)
        return len(counted), {u: sum(u in present_on[d] for d in counted) for u in enrolled}

    def figure(present: int | None) -> tuple[int | None, int | None]:
        return (None, None) if present is None else (present, len(enrolled) - present)

    def n_present(counted: int, hits: dict[int, int]) -> int | None:
        if not counted:
            return None
        return sum(bool(period_present(h, counted, rules.period_ratio)) for h in hits.values())

    buckets = []
    for first, last in bucket_ranges(start, end, granularity):
        if granularity == DAY:
            school_day = is_school_day(first, rules)
            buckets.append(Bucket(first, last, school_day, None, *figure(len(present_on[first]))))
        else:
            counted, hits = period(first, last)
            buckets.append(Bucket(first, last, None, counted, *figure(n_present(counted, hits))))

    counted, hits = period(start, end)
    per_user: dict[int, UserSummary] = {}
    for u in sorted(enrolled):
        overall = (
            u in present_on[start]
            if start == end
            else period_present(hits[u], counted, rules.period_ratio)
        )
        total = sum(
            (days[d][u].total for d in dates if d <= today and u in days.get(d, {})),
            timedelta(),
        )
        per_user[u] = UserSummary(u, hits[u], counted, overall, total)
    overall_present = len(present_on[start]) if start == end else n_present(counted, hits)
    presences, absences = figure(overall_present)
    return Report(
        start, end, granularity, len(enrolled), presences, absences, tuple(buckets), per_user
    )
