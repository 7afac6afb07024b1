"""The presence rules of docs/presence.md as pure functions: no I/O, no clock."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
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
PRESENT, ABSENT, CLEARED = "present", "absent", "cleared"
MARK_STATUSES = (PRESENT, ABSENT, CLEARED)
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
    """A school's calendar, thresholds and settings of school life (section 7).

    day_end and late_after are local wall times (naive `datetime.time`; None: off);
    chronic_ratio is a Decimal with at most two places, chronic_min_days a whole number
    of days (section 8). The defaults change none of the figures of sections 1 to 6."""

    timezone: str = "UTC"
    school_days: frozenset[int] = frozenset({1, 2, 3, 4, 5})
    closures: frozenset[date] = frozenset()
    min_daily_hours: Decimal = Decimal(4)
    period_ratio: Decimal = Decimal("0.8")
    day_end: time | None = None
    late_after: time | None = None
    chronic_ratio: Decimal = Decimal("0.1")
    chronic_min_days: int = 10

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
        for name in ("min_daily_hours", "period_ratio", "chronic_ratio"):
            object.__setattr__(self, name, _as_decimal(getattr(self, name), name))
        places = self.chronic_ratio.normalize().as_tuple().exponent
        if not isinstance(places, int) or places < -2:  # finite, so always an int
            raise ValueError(f"chronic_ratio needs at most two places, got {self.chronic_ratio}")
        min_days = self.chronic_min_days
        if isinstance(min_days, bool) or not isinstance(min_days, int) or min_days < 0:
            raise ValueError(f"chronic_min_days must be a whole number >= 0, got {min_days!r}")
        for name in ("day_end", "late_after"):
            wall = getattr(self, name)
            if wall is None:
                continue
            if not isinstance(wall, time) or wall.tzinfo is not None:
                raise ValueError(f"{name} must be a local wall time (naive time), got {wall!r}")
            # Section 7 resolves a repeated or skipped wall time with fold=0, whatever fold
            # the caller's value carries.
            object.__setattr__(self, name, wall.replace(fold=0))

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
    # 1 when a session open at the end of the date was closed at day_end (section 7).
    auto_closed: int = 0

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
            "auto_closed": self.auto_closed,
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
            auto_closed=int(d.get("auto_closed", 0)),
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


@lru_cache(maxsize=65536)
def wall_instant(day: date, wall: time, tz: str) -> datetime:
    """The UTC instant of the local wall time `wall` on `day` (section 7): a wall time that
    is skipped or repeated that day is resolved as zoneinfo does with fold=0 (the offset
    in force before the change)."""
    if wall.tzinfo is not None:
        raise ValueError(f"a wall time is naive, got {wall!r}")
    return datetime.combine(day, wall.replace(fold=0), tzinfo=zone(tz)).astimezone(UTC)


def _wall_at(day: date, wall: time | None, tz: str) -> datetime | None:
    return None if wall is None else wall_instant(day, wall, tz)


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
# unclosed, first_checkin, sessions, auto_closed).
_Paired = tuple[int, int, bool, int, int, datetime | None, tuple[Session, ...], int]


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
    rows: list[Row],
    day: date,
    today: date,
    now_utc: datetime,
    keep_sessions: bool,
    day_end: datetime | None = None,
) -> list[_Paired]:
    """Rule 2 for every user of rows: one date's counted events, in UTC; day_end is the
    instant of the school's day_end on day (section 7), or None.

    The only pairing in this module. Sorts rows by (user, instant, id) in place (near
    free when the database already ordered them) and walks them once."""
    rows.sort()
    is_today, is_past = day == today, day < today
    # Section 7: a session still open at the end of the date that opened before day_end is
    # closed there once day_end has passed (on a past date, always).
    ended = day_end is not None and (is_past or (is_today and now_utc >= day_end))
    paired: list[_Paired] = []
    no_sessions: tuple[Session, ...] = ()
    user: int | None = None
    total = orphans = 0
    open_at: datetime | None = None
    first: datetime | None = None
    sessions: list[Session] = []

    def close(user: int) -> None:
        nonlocal total
        in_now, unclosed, auto = False, 0, 0
        if open_at is not None:
            if ended and day_end is not None and open_at < day_end:
                auto = 1
                total += (day_end - open_at) // _US
            elif is_today:
                in_now = True
                total += (now_utc - open_at) // _US
            elif is_past:
                unclosed = 1
            if keep_sessions:
                sessions.append(Session(open_at, day_end if auto else None))
        kept = tuple(sessions) if keep_sessions else no_sessions
        paired.append((user, total, in_now, orphans, unclosed, first, kept, auto))

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
    """Rules 2 and 3 (by time, without marks) for every user of rows, by user id."""
    threshold = _threshold_us(rules.min_daily_hours)
    day_end = _wall_at(day, rules.day_end, rules.timezone)
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
            auto_closed=auto,
        )
        for user_id, total_us, in_now, orphans, unclosed, first, sessions, auto in _pair(
            rows, day, today, now_utc, keep_sessions, day_end
        )
    }


def day_results_range(
    events: Iterable[Event], start: date, end: date, rules: Rules, now: datetime
) -> dict[date, dict[int, DayResult]]:
    """Per-user results of every date in start..end that has counted events (by date, then
    by user id), sessions included, in one pass."""
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
    auto_closed: list[int] = field(default_factory=list)  # section 7; [] in tables made before

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
            auto_closed=[r.auto_closed for r in ordered],
        )


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def day_table(rows: Iterable[Row], day: date, rules: Rules, now: datetime) -> DayTable:
    """Per-user results of one local date from database rows (user_id, timestamp, id, type)
    in any order, as a DayTable; rows of other dates and after now are left out."""
    now_utc = _utc(now, "now")
    today = local_date(now_utc, rules.timezone)
    threshold = _threshold_us(rules.min_daily_hours)
    day_end = _wall_at(day, rules.day_end, rules.timezone)
    paired = _pair(_rows_of(rows, day, rules, now_utc), day, today, now_utc, False, day_end)
    return DayTable(
        user_id=[p[0] for p in paired],
        total_us=[p[1] for p in paired],
        present=[_present_us(day, p[1], p[2], today, threshold) for p in paired],
        checked_in_now=[p[2] for p in paired],
        orphan_checkouts=[p[3] for p in paired],
        unclosed=[p[4] for p in paired],
        first_checkin_us=[None if p[5] is None else (p[5] - _EPOCH) // _US for p in paired],
        auto_closed=[p[7] for p in paired],
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


def chronically_absent(
    absent_days: int, counted: int, chronic_ratio: Decimal, chronic_min_days: int
) -> bool | None:
    """Section 8: counted >= chronic_min_days and absent_days >= chronic_ratio * counted,
    compared exactly; None without counted days (no per-user figure)."""
    if not 0 <= absent_days <= counted:
        raise ValueError(f"need 0 <= absent_days <= counted, got {absent_days}/{counted}")
    if counted == 0:
        return None
    return _chronic(absent_days, counted, chronic_min_days, *_ratio(chronic_ratio))


def _chronic(absent_days: int, counted: int, min_days: int, p: int, q: int) -> bool:
    """counted >= min_days and absent_days / counted >= p / q, in integers."""
    return counted >= min_days and absent_days * q >= p * counted


def absence_streak(present_by_day: Iterable[bool]) -> int:
    """Section 8: how many of the last counted days (given in date order, True where
    present) were absent without a break; 0 when present on the last one."""
    streak = 0
    for present in present_by_day:
        streak = 0 if present else streak + 1
    return streak


# --- section 5: enrolments -----------------------------------------------------------------

Span = tuple[date | None, date | None]
"""One enrolment at one school: (from, until), school-local dates, both inclusive; None is
open (since always, still enrolled). A span whose until is before its from covers no date."""


def covers(span: Span, day: date) -> bool:
    """The enrolment span covers the date."""
    first, last = span
    return (first is None or first <= day) and (last is None or day <= last)


def is_enrolled(spans: Iterable[Span] | None, day: date) -> bool:
    """Enrolled on day by one of the spans (a user's spans at one school). None means no
    enrolment information: enrolled on every date, as before enrolments existed."""
    return spans is None or any(covers(span, day) for span in spans)


def end_span(span: Span, today: date) -> Span:
    """The span after archiving its user or moving them away (section 5): one that covers
    today or a later date ends the day before today (one that starts today or later then
    covers no date); any other span is left as it is."""
    first, last = span
    empty = first is not None and last is not None and last < first
    if empty or (last is not None and last < today):
        return span
    return (first, today - _ONE_DAY)


# --- section 3: marks ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Mark:
    """One entry of the mark history of one user on one local date (section 3).

    status is present, absent or cleared (a clearing: no mark from then on); excused is
    only for an absence. Entries are ordered by (recorded_at, sequence): the later one
    supersedes; sequence (e.g. the row id) breaks ties between equal instants."""

    user_id: int
    day: date
    status: str
    recorded_at: datetime
    sequence: int = 0
    excused: bool = False
    reason: str = ""

    def __post_init__(self) -> None:
        if self.status not in MARK_STATUSES:
            raise ValueError(f"mark status must be one of {MARK_STATUSES}, got {self.status!r}")
        if self.excused and self.status != ABSENT:
            raise ValueError("only an absent mark can be excused")
        _utc(self.recorded_at, "recorded_at")

    @property
    def order(self) -> tuple[datetime, int]:
        """The position of the entry in its user's and date's history."""
        return _utc(self.recorded_at), self.sequence


def effective_marks(history: Iterable[Mark]) -> dict[date, dict[int, Mark]]:
    """The effective mark of each user on each date that has one (section 3): the latest
    entry for that user and date, unless it is a clearing. By date, then user id."""
    latest: dict[tuple[date, int], Mark] = {}
    for mark in history:
        key = (mark.day, mark.user_id)
        seen = latest.get(key)
        if seen is not None and seen.order == mark.order and seen != mark:
            raise ValueError(f"two mark entries of user {mark.user_id} on {mark.day} tie")
        if seen is None or seen.order < mark.order:
            latest[key] = mark
    effective: dict[date, dict[int, Mark]] = {}
    for (day, user_id), mark in latest.items():
        if mark.status != CLEARED:
            effective.setdefault(day, {})[user_id] = mark
    return effective


def mark_problem(
    status: str, day: date, today: date, spans: Iterable[Span] | None, excused: bool = False
) -> str | None:
    """Why a new mark entry would be refused (section 3), or None when it may be recorded.

    today is the school-local date of the request; spans the user's enrolments at the
    school (None: no enrolment information). A clearing is always allowed."""
    if status not in MARK_STATUSES:
        return f"must be one of {', '.join(MARK_STATUSES)}"
    if excused and status != ABSENT:
        return "only an absence can be excused"
    if status == CLEARED:
        return None
    if status == PRESENT and day > today:
        return "a present mark may not be given for a date after today"
    if not is_enrolled(spans, day):
        return "the user is not enrolled at the school on that date"
    return None


# --- one date decided: day_facts -----------------------------------------------------------
# The rules run in two steps, as the report pipeline runs them:
# - per local date: day_table pairs the date's events (sections 1, 2 and 7's day_end);
#   day_facts then decides, for the users who may be counted, who is enrolled (section 5),
#   present (section 3, marks included), excused and late (section 7);
# - over the range: combine turns each date's DayFacts into buckets, per-user figures
#   (section 8) and the overall figure.
# aggregate runs both for callers that hold every date's pairing in memory.


@dataclass(frozen=True, slots=True)
class DayTotals:
    """What rules 3 to 7 need of one date's pairing: each user's time in microseconds, who
    is checked in now, each user's first session opening (microseconds since the Unix
    epoch; None when not kept, which only a school without late_after can afford) and
    whose session was closed at day_end. DayResults and DayTables convert with `of` and
    `of_table`."""

    total_us: Mapping[int, int]
    checked_in_now: frozenset[int] = frozenset()
    first_checkin_us: Mapping[int, int] | None = None
    auto_closed: frozenset[int] = frozenset()

    @classmethod
    def of(cls, results: Mapping[int, DayResult]) -> DayTotals:
        """The totals of a date's DayResults."""
        return cls(
            {u: _micros(r.total) for u, r in results.items()},
            frozenset(u for u, r in results.items() if r.checked_in_now),
            {
                u: _micros(r.first_checkin - _EPOCH)
                for u, r in results.items()
                if r.first_checkin is not None
            },
            frozenset(u for u, r in results.items() if r.auto_closed),
        )

    @classmethod
    def of_table(cls, table: DayTable) -> DayTotals:
        """The totals of a date's DayTable (a table without the auto_closed column: none)."""
        users = table.user_id
        return cls(
            dict(zip(users, table.total_us, strict=True)),
            frozenset(u for u, now in zip(users, table.checked_in_now, strict=True) if now),
            {
                u: first
                for u, first in zip(users, table.first_checkin_us, strict=True)
                if first is not None
            },
            frozenset(u for u, auto in zip(users, table.auto_closed, strict=False) if auto),
        )


_NO_TOTALS = DayTotals({}, frozenset(), {})


@dataclass(frozen=True, slots=True)
class DayFacts:
    """One local date decided: what the combine step needs of it.

    enrolled holds the users counted on the date (section 5); present, excused and late
    are among them (sections 3 and 7; late is None when the school has no late_after).
    total_us, checked_in_now and auto_closed are the pairing's, for every user with events
    (the time of a date after today is left out). `to_dict`/`from_dict` store it as JSON."""

    day: date
    enrolled: frozenset[int]
    present: frozenset[int]
    excused: frozenset[int]
    late: frozenset[int] | None
    total_us: Mapping[int, int]
    checked_in_now: frozenset[int] = frozenset()
    auto_closed: frozenset[int] = frozenset()

    def __post_init__(self) -> None:
        if not self.present <= self.enrolled:
            raise ValueError("present users must be enrolled")
        if not self.excused <= self.enrolled - self.present:
            raise ValueError("excused users must be enrolled and absent")
        if self.late is not None and not self.late <= self.enrolled:
            raise ValueError("late users must be enrolled")

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (user ids in order)."""
        return {
            "day": self.day.isoformat(),
            "enrolled": sorted(self.enrolled),
            "present": sorted(self.present),
            "excused": sorted(self.excused),
            "late": None if self.late is None else sorted(self.late),
            "total_us": [[u, self.total_us[u]] for u in sorted(self.total_us)],
            "checked_in_now": sorted(self.checked_in_now),
            "auto_closed": sorted(self.auto_closed),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DayFacts:
        """Inverse of to_dict."""
        return cls(
            day=date.fromisoformat(d["day"]),
            enrolled=frozenset(d["enrolled"]),
            present=frozenset(d["present"]),
            excused=frozenset(d["excused"]),
            late=None if d["late"] is None else frozenset(d["late"]),
            total_us={int(u): int(us) for u, us in d["total_us"]},
            checked_in_now=frozenset(d["checked_in_now"]),
            auto_closed=frozenset(d["auto_closed"]),
        )


def day_facts(
    day: date,
    pairing: DayTotals | Mapping[int, DayResult] | None,
    user_ids: Collection[int],
    rules: Rules,
    now: datetime,
    enrolments: Mapping[int, Collection[Span]] | None = None,
    marks: Iterable[Mark] = (),
) -> DayFacts:
    """Decide one local date (sections 3, 5 and 7) for the users who may be counted.

    - pairing: the date's pairing (day_table's DayTotals.of_table, or DayResults by user;
      None when the date has no events), made with the same rules (day_end) and now;
    - user_ids: the users who may be counted at the school (archived ones included);
    - enrolments: each user's spans at this school; a user without an entry (or every
      user, when None) is enrolled on every date;
    - marks: the mark history; only this date's entries are used, and the effective one
      (latest, unless a clearing) decides presence.

    Presence by time is decided here again from the totals, so this call's rules and now
    decide (nobody is checked in now on a date other than today, nor present by time
    after today)."""
    today = local_today(now, rules.timezone)
    totals = _NO_TOTALS if pairing is None else pairing
    if not isinstance(totals, DayTotals):
        totals = DayTotals.of(totals)
    if enrolments is None:
        enrolled = frozenset(user_ids)
    else:
        enrolled = frozenset(u for u in user_ids if is_enrolled(enrolments.get(u), day))
    marked = effective_marks(m for m in marks if m.day == day).get(day, {})

    if day > today:
        by_time: set[int] = set()
        totals = _NO_TOTALS
    else:
        threshold = _threshold_us(rules.min_daily_hours)
        by_time = {u for u, us in totals.total_us.items() if _enough(us, threshold)}
    in_now = totals.checked_in_now if day == today else frozenset()
    by_time |= in_now
    present = by_time & enrolled
    if marked:
        marked_present = {u for u, m in marked.items() if m.status == PRESENT}
        present = (present - marked.keys() | marked_present) & enrolled
    excused = {u for u, m in marked.items() if m.excused} & enrolled

    late: frozenset[int] | None = None
    if rules.late_after is not None:
        first = totals.first_checkin_us
        if first is None:
            raise ValueError("late_after needs each user's first check-in (first_checkin_us)")
        late_at = _micros(wall_instant(day, rules.late_after, rules.timezone) - _EPOCH)
        late = frozenset(
            u for u, us in first.items() if us > late_at and u in enrolled and u not in marked
        )
    return DayFacts(
        day=day,
        enrolled=enrolled,
        present=frozenset(present),
        excused=frozenset(excused),
        late=late,
        total_us=totals.total_us,
        checked_in_now=in_now,
        auto_closed=totals.auto_closed,
    )


# --- the range combined: combine -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Bucket:
    """One day (school_day set) or one week/month (counted_days set) of a report.

    enrolled is the number of users counted in the bucket (section 5); excused and late
    are set on day buckets only (late: None without late_after)."""

    start: date
    end: date
    school_day: bool | None
    counted_days: int | None
    present: int | None
    absent: int | None
    enrolled: int | None = None
    excused: int | None = None
    late: int | None = None


@dataclass(frozen=True, slots=True)
class UserSummary:
    """One counted user over a report's range (section 8)."""

    user_id: int
    present_days: int  # their counted days (rules 4, 5) on which they were present
    counted_days: int  # their counted days
    present: bool | None  # rule 3 for a single date, rule 4 on their counted days otherwise
    total: timedelta  # time over every date of the range, up to now
    excused_days: int = 0  # absent counted days on which they were excused
    late_days: int | None = None  # counted days on which they were late; None without late_after
    chronic: bool | None = None  # chronically absent; None without counted days
    absence_streak: int | None = None  # None without counted days

    @property
    def absent_days(self) -> int:
        """Their counted days on which they were absent."""
        return self.counted_days - self.present_days

    def to_dict(self, school_life: bool = False) -> dict[str, Any]:
        """JSON-safe form; with school_life, the figures of section 8 too."""
        out = {
            "user_id": self.user_id,
            "present_days": self.present_days,
            "counted_days": self.counted_days,
            "present": self.present,
            **_total_fields(self.total),
        }
        if school_life:
            out |= {
                "absent_days": self.absent_days,
                "excused_days": self.excused_days,
                "late_days": self.late_days,
                "chronic": self.chronic,
                "absence_streak": self.absence_streak,
            }
        return out


@dataclass(frozen=True, slots=True)
class Report:
    """Buckets and the overall figure of an aggregate request.

    enrolled is the number of users enrolled on some date of the range (the users given,
    when no enrolments are); counted_users is section 6's overall `enrolled`: the users
    counted in the range (None, like presences, when it has no figure); chronic the
    number of them who are chronically absent (section 8)."""

    start: date
    end: date
    granularity: str
    enrolled: int
    presences: int | None
    absences: int | None
    buckets: tuple[Bucket, ...]
    per_user: dict[int, UserSummary]
    counted_users: int | None = None
    chronic: int = 0


def combine(
    days: Mapping[date, DayFacts],
    start: date,
    end: date,
    granularity: str,
    rules: Rules,
    now: datetime,
) -> Report:
    """Apply rules 4 to 8 to the DayFacts of every date of start..end (each one needed).

    rules gives the calendar (school days, closures), period_ratio, chronic_ratio,
    chronic_min_days and whether late is reported (late_after); now gives today (no date
    after it is counted)."""
    _check_range(start, end, granularity)
    today = local_today(now, rules.timezone)
    dates = _dates(start, end)
    missing = [d for d in dates if d not in days]
    if missing:
        raise ValueError(f"no DayFacts for {missing[0]} (every date of the range is needed)")
    facts = {d: days[d] for d in dates}
    for d, f in facts.items():
        if f.day != d:
            raise ValueError(f"the DayFacts given for {d} are of {f.day}")
    with_late = rules.late_after is not None
    if with_late and any(f.late is None for f in facts.values()):
        raise ValueError("these rules have late_after: DayFacts without late cannot serve")
    # A set of the dates' sets first: without enrolments every date shares one.
    users = frozenset().union(*{f.enrolled for f in facts.values()})
    time_us = dict.fromkeys(users, 0)  # each user's time over the range, up to today
    for d, f in facts.items():
        if d <= today:
            for u, us in f.total_us.items():
                if u in time_us:
                    time_us[u] += us
    p, q = _ratio(rules.period_ratio)

    @cache  # a month's only bucket is often the whole range
    def tally(first: date, last: date) -> tuple[list[date], Counter[int], Counter[int]]:
        """The counted days, and each user's own counted days and present days among them."""
        counted = counted_days(first, last, rules, today)
        own = Counter(chain.from_iterable(facts[d].enrolled for d in counted))
        hits = Counter(chain.from_iterable(facts[d].present for d in counted))
        return counted, own, hits

    def n_present(own: Counter[int], hits: Counter[int]) -> int:
        # Rule 4 on each user's own counted days (period_present without its checks).
        return sum(_above(hits[u], n, p, q) for u, n in own.items())

    buckets = []
    for first, last in bucket_ranges(start, end, granularity):
        if granularity == DAY:
            f = facts[first]
            n, here = len(f.present), len(f.enrolled)
            late = len(f.late) if with_late and f.late is not None else None
            school_day = is_school_day(first, rules)
            buckets.append(
                Bucket(first, last, school_day, None, n, here - n, here, len(f.excused), late)
            )
            continue
        counted, own, hits = tally(first, last)
        if not counted:
            buckets.append(Bucket(first, last, None, 0, None, None))
            continue
        n = n_present(own, hits)
        buckets.append(Bucket(first, last, None, len(counted), n, len(own) - n, len(own)))

    counted, own, hits = tally(start, end)
    excused = Counter(chain.from_iterable(facts[d].excused for d in counted))
    late_days = Counter(chain.from_iterable(facts[d].late or () for d in counted))
    streaks = _streaks(counted, facts)
    cp, cq = _ratio(rules.chronic_ratio)
    single = start == end
    per_user: dict[int, UserSummary] = {}
    for u in sorted(users):
        mine = own[u]
        if single:
            overall: bool | None = u in facts[start].present
        else:
            overall = _above(hits[u], mine, p, q) if mine else None
        per_user[u] = UserSummary(
            user_id=u,
            present_days=hits[u],
            counted_days=mine,
            present=overall,
            total=timedelta(microseconds=time_us[u]),
            excused_days=excused[u],
            late_days=late_days[u] if with_late else None,
            chronic=_chronic(mine - hits[u], mine, rules.chronic_min_days, cp, cq)
            if mine
            else None,
            absence_streak=streaks[u] if mine else None,
        )
    if single:
        counted_users: int | None = len(facts[start].enrolled)
        presences: int | None = len(facts[start].present)
    elif counted:
        counted_users, presences = len(own), n_present(own, hits)
    else:
        counted_users = presences = None
    absences = None if presences is None or counted_users is None else counted_users - presences
    chronic = sum(bool(s.chronic) for s in per_user.values())
    return Report(
        start,
        end,
        granularity,
        len(users),
        presences,
        absences,
        tuple(buckets),
        per_user,
        counted_users,
        chronic,
    )


def _streaks(counted: list[date], facts: Mapping[date, DayFacts]) -> Counter[int]:
    """Each user's absence streak: walking back over the counted days, a user's streak
    ends on the first day they are counted and present."""
    streak: Counter[int] = Counter()
    done: set[int] = set()
    for d in reversed(counted):
        f = facts[d]
        active = f.enrolled - done
        done |= active & f.present
        streak.update(active - f.present)
    return streak


def aggregate(
    user_ids: Collection[int],
    days: Mapping[date, Mapping[int, DayResult] | DayTotals],
    start: date,
    end: date,
    granularity: str,
    rules: Rules,
    now: datetime,
    enrolments: Mapping[int, Collection[Span]] | None = None,
    marks: Iterable[Mark] = (),
) -> Report:
    """Apply rules 3 to 8 to the users who may be counted over start..end: day_facts for
    each date, then combine.

    days holds each date's DayResults by user, or their DayTotals (dates without events
    may be left out); enrolments and marks are as for day_facts."""
    _check_range(start, end, granularity)
    by_day = _marks_by_day(marks)
    facts = {
        d: day_facts(d, days.get(d), user_ids, rules, now, enrolments, by_day.get(d, ()))
        for d in _dates(start, end)
    }
    return combine(facts, start, end, granularity, rules, now)


def _marks_by_day(marks: Iterable[Mark]) -> dict[date, list[Mark]]:
    grouped: dict[date, list[Mark]] = {}
    for mark in marks:
        grouped.setdefault(mark.day, []).append(mark)
    return grouped
