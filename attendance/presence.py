"""The presence rules of docs/presence.md as pure functions: no I/O, no clock."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from fractions import Fraction
from functools import cache, lru_cache
from itertools import chain
from typing import Any, Protocol, TypeVar
from zoneinfo import ZoneInfo

CHECKIN = "checkin"
CHECKOUT = "checkout"
EVENT_TYPES = (CHECKIN, CHECKOUT)
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
        if self.type not in EVENT_TYPES:
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


_Result_co = TypeVar("_Result_co", covariant=True)


class _Comparable(Protocol[_Result_co]):
    def __ge__(self, threshold: Decimal, /) -> _Result_co: ...


def is_fever(temperature: _Comparable[_Result_co], threshold: Decimal) -> _Result_co:
    """A reading is a fever when it reaches the school's threshold (docs/api.md, `fever`).

    The one home of the comparison: given values it answers a bool, given a column (say
    `Attendance.temperature`) the SQL condition.
    """
    return temperature >= threshold


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


def _day_spans(day: date, tz: str) -> tuple[datetime, list[tuple[datetime, datetime, timedelta]]]:
    """day's wall midnight read as UTC, and the constant-offset spans around day."""
    midnight = datetime.combine(day, time(), tzinfo=UTC)
    # |offset| < 24 h, so every instant of day lies in (midnight - 1 day, midnight + 2 days).
    return midnight, _constant_offset_spans(midnight - _ONE_DAY, midnight + 2 * _ONE_DAY, zone(tz))


@lru_cache(maxsize=65536)
def _day_pieces(day: date, tz: str) -> tuple[tuple[datetime, datetime], ...]:
    """The UTC intervals whose instants have local date day, in order, adjacent ones
    merged: one interval on almost every day, DST changes included."""
    # Why not "midnight to midnight": local midnight can be skipped (Santiago),
    # repeated, or crossed backwards by a transition (Goose Bay until 2010 fell back
    # from 00:01 to 23:01). Each constant-offset span contributes an exact piece.
    midnight, spans = _day_spans(day, tz)
    pieces: list[tuple[datetime, datetime]] = []
    for span_start, span_end, offset in spans:
        start = max(span_start, midnight - offset)
        end = min(span_end, midnight + _ONE_DAY - offset)
        if start < end:
            if pieces and pieces[-1][1] == start:
                pieces[-1] = (pieces[-1][0], end)
            else:
                pieces.append((start, end))
    return tuple(pieces)


def _day_is_contiguous(day: date, tz: str) -> bool:
    """Every instant within day_bounds(day) has local date day (not a hull of pieces)."""
    return len(_day_pieces(day, tz)) <= 1


@lru_cache(maxsize=65536)
def _day_bounds(day: date, tz: str) -> tuple[datetime, datetime]:
    pieces = _day_pieces(day, tz)
    if pieces:
        # Where the date goes backwards (Goose Bay, Casey 2010) this is the hull: every
        # instant of day, and those of the day before that fall between its pieces.
        return pieces[0][0], pieces[-1][1]
    # The date never happens locally (Pacific/Apia skipped 2011-12-30): an empty
    # interval at the instant the calendar jumps over it.
    midnight, spans = _day_spans(day, tz)
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
    return _present_us(day, _micros(total), in_now, today, _threshold_us(rules.min_daily_hours))


def _present_us(day: date, total_us: int, in_now: bool, today: date, threshold_us: int) -> bool:
    if day > today:
        return False
    return _enough(total_us, threshold_us) or (day == today and in_now)


def _enough(total_us: int, threshold_us: int) -> bool:
    """Rule 3's time test: strictly more than min_daily_hours (4 h 00 min 00 s is not)."""
    return total_us > threshold_us


Row = tuple[int, datetime, int, str]
"""One event as the database hands it over: (user_id, timestamp, id, type)."""

# One user's pairing of one date: (user_id, total_us, checked_in_now, orphan_checkouts,
# unclosed, first_checkin, sessions).
_Paired = tuple[int, int, bool, int, int, datetime | None, tuple[Session, ...]]


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
    rows: list[Row], day: date, today: date, now_utc: datetime, keep_sessions: bool
) -> list[_Paired]:
    """Rule 2 for every user of rows: one date's counted events, in UTC.

    The only pairing in this module. Sorts rows by (user, instant, id) in place (near
    free when the database already ordered them) and walks them once."""
    rows.sort()
    is_today, is_past = day == today, day < today
    paired: list[_Paired] = []
    no_sessions: tuple[Session, ...] = ()
    user: int | None = None
    total = orphans = 0
    open_at: datetime | None = None
    first: datetime | None = None
    sessions: list[Session] = []

    def close(user: int) -> None:
        nonlocal total
        in_now = open_at is not None and is_today
        if open_at is not None:
            if keep_sessions:
                sessions.append(Session(open_at, None))
            if in_now:
                total += (now_utc - open_at) // _US
        unclosed = int(open_at is not None and is_past)
        kept = tuple(sessions) if keep_sessions else no_sessions
        paired.append((user, total, in_now, orphans, unclosed, first, kept))

    for user_id, ts, _id, kind in rows:
        if user_id != user:
            if user is not None:
                close(user)
            user, total, orphans, open_at, first = user_id, 0, 0, None, None
            sessions = []
        if kind == CHECKIN:
            if open_at is None:
                open_at = ts
                if first is None:
                    first = ts
        elif kind != CHECKOUT:
            raise ValueError(f"event type must be {CHECKIN!r} or {CHECKOUT!r}, got {kind!r}")
        elif open_at is None:
            orphans += 1
        else:
            total += (ts - open_at) // _US
            if keep_sessions:
                sessions.append(Session(open_at, ts))
            open_at = None
    if user is not None:
        close(user)
    return paired


def _results(
    rows: list[Row], day: date, today: date, rules: Rules, now_utc: datetime, keep_sessions: bool
) -> dict[int, DayResult]:
    """Rules 2 and 3 for every user of rows, as DayResults by user id."""
    threshold = _threshold_us(rules.min_daily_hours)
    return {
        user_id: DayResult(
            user_id=user_id,
            day=day,
            total=timedelta(microseconds=total_us),
            present=_present_us(day, total_us, in_now, today, threshold),
            checked_in_now=in_now,
            orphan_checkouts=orphans,
            unclosed=unclosed,
            sessions=sessions,
            first_checkin=first,
        )
        for user_id, total_us, in_now, orphans, unclosed, first, sessions in _pair(
            rows, day, today, now_utc, keep_sessions
        )
    }


def pair_day(
    user_id: int, events: Iterable[Event], day: date, rules: Rules, now: datetime
) -> DayResult:
    """Pair one user's events of one local date and decide presence (rules 2 and 3)."""
    now_utc = _utc(now, "now")
    rows = [
        (user_id, _utc(e.timestamp), e.id, e.type)
        for d, e in _counted_events(events, rules, now_utc)
        if d == day and e.user_id == user_id
    ]
    today = local_date(now_utc, rules.timezone)
    found = _results(rows, day, today, rules, now_utc, keep_sessions=True)
    if user_id in found:
        return found[user_id]
    return DayResult(user_id, day, timedelta(), False, False, 0, 0, (), None)


def day_results_range(
    events: Iterable[Event], start: date, end: date, rules: Rules, now: datetime
) -> dict[date, dict[int, DayResult]]:
    """day_results for every date in start..end that has counted events, in one pass."""
    now_utc = _utc(now, "now")
    today = local_date(now_utc, rules.timezone)
    grouped: dict[date, list[Row]] = {}
    for d, e in _counted_events(events, rules, now_utc):
        if start <= d <= end:
            grouped.setdefault(d, []).append((e.user_id, _utc(e.timestamp), e.id, e.type))
    return {
        d: _results(rows, d, today, rules, now_utc, keep_sessions=True)
        for d, rows in sorted(grouped.items())
    }


def day_results(
    events: Iterable[Event], day: date, rules: Rules, now: datetime
) -> dict[int, DayResult]:
    """Per-user results of one local date, for users with counted events on it."""
    rows = ((e.user_id, e.timestamp, e.id, e.type) for e in events)
    return day_results_rows(rows, day, rules, now, keep_sessions=True)


def _rows_of(rows: Iterable[Row], day: date, rules: Rules, now_utc: datetime) -> list[Row]:
    """The rows of day (its local date) not after now, in UTC."""
    lo, hi = _day_bounds(day, rules.timezone)
    contiguous = _day_is_contiguous(day, rules.timezone)
    rows = rows if isinstance(rows, list) else list(rows)
    if contiguous and all(r[1].tzinfo is UTC for r in rows):
        # The usual case (a database session in UTC): no row needs converting or a
        # date lookup, only the bounds and now. (Aware instants compare exactly.)
        end = min(hi, now_utc + _US)  # ts <= now_utc  <=>  ts < now_utc + 1 us
        return [r if type(r) is tuple else tuple(r) for r in rows if lo <= r[1] < end]
    z = rules.zone
    mine: list[Row] = []
    for user_id, ts, event_id, kind in rows:
        if ts.tzinfo is not UTC:
            ts = _utc(ts)
        if ts > now_utc or not lo <= ts < hi:
            continue
        # Inside the bounds every instant is of this date, unless the date runs backwards
        # (then the bounds are a hull and each instant's date is looked up).
        if not contiguous and ts.astimezone(z).date() != day:
            continue
        mine.append((user_id, ts, event_id, kind))
    return mine


def day_results_rows(
    rows: Iterable[Row], day: date, rules: Rules, now: datetime, keep_sessions: bool = False
) -> dict[int, DayResult]:
    """day_results over database rows (user_id, timestamp, id, type) in any order; rows of
    other dates and after now are left out. Without keep_sessions, results carry no
    session list."""
    now_utc = _utc(now, "now")
    today = local_date(now_utc, rules.timezone)
    return _results(_rows_of(rows, day, rules, now_utc), day, today, rules, now_utc, keep_sessions)


@dataclass(frozen=True, slots=True)
class DayTable:
    """One date's per-user results in columns, ordered by user id, without sessions:
    what reports keep of a date. Instants are microseconds since the Unix epoch."""

    user_id: list[int]
    total_us: list[int]
    present: list[bool]
    checked_in_now: list[bool]
    orphan_checkouts: list[int]
    unclosed: list[int]
    first_checkin_us: list[int | None]

    @classmethod
    def of(cls, results: Mapping[int, DayResult]) -> DayTable:
        """The table of a date's DayResults."""
        ordered = [results[u] for u in sorted(results)]
        return cls(
            user_id=[r.user_id for r in ordered],
            total_us=[_micros(r.total) for r in ordered],
            present=[r.present for r in ordered],
            checked_in_now=[r.checked_in_now for r in ordered],
            orphan_checkouts=[r.orphan_checkouts for r in ordered],
            unclosed=[r.unclosed for r in ordered],
            first_checkin_us=[
                None if r.first_checkin is None else _micros(r.first_checkin - _EPOCH)
                for r in ordered
            ],
        )


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def day_table(rows: Iterable[Row], day: date, rules: Rules, now: datetime) -> DayTable:
    """day_results_rows as a DayTable: the same figures, without an object per user."""
    now_utc = _utc(now, "now")
    today = local_date(now_utc, rules.timezone)
    threshold = _threshold_us(rules.min_daily_hours)
    paired = _pair(_rows_of(rows, day, rules, now_utc), day, today, now_utc, False)
    return DayTable(
        user_id=[p[0] for p in paired],
        total_us=[p[1] for p in paired],
        present=[_present_us(day, p[1], p[2], today, threshold) for p in paired],
        checked_in_now=[p[2] for p in paired],
        orphan_checkouts=[p[3] for p in paired],
        unclosed=[p[4] for p in paired],
        first_checkin_us=[None if p[5] is None else (p[5] - _EPOCH) // _US for p in paired],
    )


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
    return _above(present_days, counted, *_ratio(ratio))


def _above(present_days: int, counted: int, p: int, q: int) -> bool:
    """present_days / counted > p / q, in integers."""
    return present_days * q > p * counted


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


@dataclass(frozen=True, slots=True)
class DayTotals:
    """What rules 3 to 6 need of one date: each user's time in microseconds and who is
    checked in now. Reports keep this much of a date; DayResults convert with `of`."""

    total_us: Mapping[int, int]
    checked_in_now: frozenset[int] = frozenset()

    @classmethod
    def of(cls, results: Mapping[int, DayResult]) -> DayTotals:
        """The totals of a date's DayResults."""
        return cls(
            {u: _micros(r.total) for u, r in results.items()},
            frozenset(u for u, r in results.items() if r.checked_in_now),
        )


def aggregate(
    user_ids: Collection[int],
    days: Mapping[date, Mapping[int, DayResult] | DayTotals],
    start: date,
    end: date,
    granularity: str,
    rules: Rules,
    now: datetime,
) -> Report:
    """Apply rules 3 to 6 to enrolled users over start..end.

    days holds each date's DayResults by user, or their DayTotals (dates without events
    may be left out)."""
    _check_range(start, end, granularity)
    enrolled = frozenset(user_ids)
    today = local_today(now, rules.timezone)
    dates = _dates(start, end)
    threshold = _threshold_us(rules.min_daily_hours)
    # Rule 3 is applied here again, from the totals, so this call's rules and now decide.
    present_on: dict[date, frozenset[int]] = {}
    time_us = dict.fromkeys(enrolled, 0)  # each user's time over the range, up to today
    for d in dates:
        given = days.get(d)
        if given is None or d > today:
            present_on[d] = frozenset()
            continue
        totals = given if isinstance(given, DayTotals) else DayTotals.of(given)
        present = {u for u, us in totals.total_us.items() if _enough(us, threshold)}
        if d == today:
            present |= totals.checked_in_now
        present_on[d] = frozenset(present) & enrolled
        for u, us in totals.total_us.items():
            if u in time_us:
                time_us[u] += us

    def period(first: date, last: date) -> tuple[int, Counter[int]]:
        counted = counted_days(first, last, rules, today)
        return len(counted), Counter(chain.from_iterable(present_on[d] for d in counted))

    def figure(present: int | None) -> tuple[int | None, int | None]:
        return (None, None) if present is None else (present, len(enrolled) - present)

    p, q = _ratio(rules.period_ratio)

    def n_present(counted: int, hits: Counter[int]) -> int | None:
        if not counted:
            return None
        # Rule 4 for each user (period_present without its checks, which hold here).
        return sum(_above(hits[u], counted, p, q) for u in enrolled)

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
        if start == end:
            overall: bool | None = u in present_on[start]
        else:
            overall = _above(hits[u], counted, p, q) if counted else None
        total = timedelta(microseconds=time_us[u])
        per_user[u] = UserSummary(u, hits[u], counted, overall, total)
    overall_present = len(present_on[start]) if start == end else n_present(counted, hits)
    presences, absences = figure(overall_present)
    return Report(
        start, end, granularity, len(enrolled), presences, absences, tuple(buckets), per_user
    )
