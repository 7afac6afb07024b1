"""Property tests: attendance.presence against the naive oracle, and invariants."""

from __future__ import annotations

import dataclasses
import itertools
import json
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from decimal import Decimal
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from attendance import presence as p
from tests.unit import oracle
from tests.unit.presence_helpers import day_results, day_results_rows, pair_day, report_dict

ZONES = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "America/Santiago",
    "America/Havana",
    "Asia/Beirut",
    "Australia/Lord_Howe",
    "Pacific/Kiritimati",
    "Pacific/Tongatapu",
    "Pacific/Pago_Pago",
    "Asia/Kathmandu",
    "Asia/Ho_Chi_Minh",
]
YEARS = range(2020, 2031)
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# The comparisons with the oracle carry the weight: more examples, still a few seconds.
ORACLE_SETTINGS = settings(SETTINGS, max_examples=300)


@cache
def transitions(tz: str) -> tuple[datetime, ...]:
    """UTC instants where tz changes offset in YEARS (daily probes, then bisection)."""
    z = ZoneInfo(tz)
    found = []
    t = datetime(YEARS[0], 1, 1, tzinfo=UTC)
    stop = datetime(YEARS[-1] + 1, 1, 1, tzinfo=UTC)
    while t < stop:
        nxt = t + timedelta(days=1)
        if t.astimezone(z).utcoffset() != nxt.astimezone(z).utcoffset():
            lo, hi = t, nxt
            while hi - lo > timedelta(microseconds=1):
                mid = lo + (hi - lo) // 2
                if mid.astimezone(z).utcoffset() == t.astimezone(z).utcoffset():
                    lo = mid
                else:
                    hi = mid
            found.append(hi)
        t = nxt
    return tuple(found)


def test_the_zones_really_have_transitions() -> None:
    assert transitions("UTC") == ()
    assert len(transitions("Europe/Berlin")) == 2 * len(YEARS)
    assert len(transitions("Australia/Lord_Howe")) == 2 * len(YEARS)  # 30-minute DST
    assert transitions("America/Santiago")
    assert transitions("Asia/Kathmandu") == ()


@st.composite
def instants(draw: st.DrawFn, tz: str) -> datetime:
    """Any instant in YEARS, often within a few hours (or microseconds) of a transition."""
    near = transitions(tz)
    use_near: bool = draw(st.booleans())
    if near and use_near:
        base = draw(st.sampled_from(near))
        step = draw(st.sampled_from([timedelta(microseconds=1), timedelta(minutes=1)]))
        return base + step * draw(st.integers(-1500, 1500))
    start = datetime(draw(st.sampled_from(YEARS)), 1, 1, tzinfo=UTC)
    return start + timedelta(microseconds=draw(st.integers(0, 365 * 86400 * 10**6)))


@st.composite
def zone_and_instant(draw: st.DrawFn) -> tuple[str, datetime]:
    tz = draw(st.sampled_from(ZONES))
    return tz, draw(instants(tz))


@SETTINGS
@given(zone_and_instant())
def test_day_bounds_holds_exactly_the_instants_of_the_day(case: tuple[str, datetime]) -> None:
    tz, t = case
    one = timedelta(microseconds=1)
    day = p.local_date(t, tz)
    start, end = p.day_bounds(day, tz)
    assert start <= t < end
    # Local dates only move forward in these zones, so these four edges pin down
    # "local_date(x) == day <=> start <= x < end" for every instant x.
    assert p.local_date(start, tz) == day
    assert p.local_date(end - one, tz) == day
    assert p.local_date(start - one, tz) < day
    assert p.local_date(end, tz) > day
    assert start.utcoffset() == timedelta(0) and end.utcoffset() == timedelta(0)


@pytest.mark.parametrize("tz", ZONES)
def test_local_dates_only_move_forward_across_transitions(tz: str) -> None:
    for t in transitions(tz):
        before = p.local_date(t - timedelta(microseconds=1), tz)
        assert before <= p.local_date(t, tz) <= before + timedelta(days=1)


@settings(max_examples=60, deadline=None)
@given(zone_and_instant())
def test_day_bounds_matches_a_minute_walk(case: tuple[str, datetime]) -> None:
    tz, t = case
    day = p.local_date(t, tz)
    walked = oracle.oracle_day_bounds(day, tz)
    assert walked is not None
    assert p.day_bounds(day, tz) == walked
    # consecutive days tile the time line
    assert p.day_bounds(day, tz)[1] == p.day_bounds(day + timedelta(days=1), tz)[0]


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(sorted(available_timezones())), st.integers(1900, 2037), st.data())
def test_day_bounds_is_the_tight_hull_in_every_zone(
    tz: str, year: int, data: st.DataObject
) -> None:
    # Where the local date runs backwards (America/Goose_Bay until 2010) no single
    # interval can be exact; the bounds still hold every instant of the day, and
    # start at and end just after one of them.
    z = ZoneInfo(tz)
    one = timedelta(microseconds=1)
    t = datetime(year, 1, 1, tzinfo=UTC) + timedelta(hours=data.draw(st.integers(0, 365 * 24)))
    for _ in range(365):  # walk to the year's next offset change, if any
        if (t + timedelta(days=1)).astimezone(z).utcoffset() != t.astimezone(z).utcoffset():
            break
        t += timedelta(days=1)
    t += timedelta(minutes=data.draw(st.integers(-180, 24 * 60 + 180)))
    day = p.local_date(t, tz)
    start, end = p.day_bounds(day, tz)
    assert start <= t < end
    assert p.local_date(start, tz) == day == p.local_date(end - one, tz)
    assert p.local_date(start - one, tz) < day < p.local_date(end, tz)


ODD_DAYS = [
    ("America/Goose_Bay", date(2010, 11, 6)),  # 00:01 fell back to 23:01 the day before
    ("America/Goose_Bay", date(2010, 11, 7)),
    ("America/St_Johns", date(2010, 11, 7)),
    ("Antarctica/Casey", date(2010, 3, 4)),  # 02:00 +11 fell back to 23:00 +08
    ("Antarctica/Casey", date(2010, 3, 5)),
    ("Pacific/Apia", date(2011, 12, 29)),  # then skipped the 30th
    ("Pacific/Apia", date(2011, 12, 31)),
    ("Pacific/Kiritimati", date(1994, 12, 30)),  # then skipped the 31st
    ("Pacific/Kwajalein", date(1993, 8, 20)),
    ("America/Santiago", date(2026, 9, 6)),  # midnight skipped
    ("America/Havana", date(2026, 11, 1)),  # midnight twice
    ("Asia/Beirut", date(2022, 10, 29)),  # 00:00 back to 23:00
]


@pytest.mark.parametrize(("tz", "day"), ODD_DAYS)
def test_day_bounds_on_odd_days_match_a_minute_walk(tz: str, day: date) -> None:
    assert p.day_bounds(day, tz) == oracle.oracle_day_bounds(day, tz)


@pytest.mark.parametrize(("tz", "day"), ODD_DAYS)
def test_rows_on_odd_days_are_paired_on_their_own_local_date(tz: str, day: date) -> None:
    # Within a hull (the date runs backwards) some instants belong to the day before:
    # the row path must look each one up, like the event path does.
    rules = p.Rules(timezone=tz)
    start = datetime.combine(day, datetime.min.time(), UTC) - timedelta(days=1)
    events = [
        p.Event(i, i % 3, p.CHECKIN if i % 2 == 0 else p.CHECKOUT, start + i * timedelta(minutes=7))
        for i in range(3 * 24 * 60 // 7)
    ]
    rows = [(e.user_id, e.timestamp, e.id, e.type) for e in events]
    now = start + timedelta(days=5)
    for d in (day - timedelta(days=1), day, day + timedelta(days=1)):
        want = day_results(events, d, rules, now)
        assert day_results_rows(rows, d, rules, now, keep_sessions=True) == want
        assert p.day_table(rows, d, rules, now) == p.DayTable.of(want)


@settings(max_examples=100, deadline=None)
@given(
    st.sampled_from([z for z in ZONES if transitions(z)]),
    st.data(),
    st.integers(0, 5 * 3600 * 10**6),
    st.integers(0, 5 * 3600 * 10**6),
    st.booleans(),
)
def test_sessions_across_a_clock_change_count_real_time(
    tz: str, data: st.DataObject, before_us: int, after_us: int, checkout_first: bool
) -> None:
    # Timestamps dressed in the school's own ZoneInfo, where plain datetime arithmetic
    # would count wall-clock time and order the repeated hour wrongly.
    z = ZoneInfo(tz)
    change = data.draw(st.sampled_from(transitions(tz)))
    checkin = (change - timedelta(microseconds=before_us)).astimezone(z)
    checkout = (change + timedelta(microseconds=after_us)).astimezone(z)
    ids = (2, 1) if checkout_first else (1, 2)
    events = [p.Event(ids[0], 7, p.CHECKIN, checkin), p.Event(ids[1], 7, p.CHECKOUT, checkout)]
    now = (change + timedelta(days=3)).astimezone(z)
    rules = p.Rules(timezone=tz)
    day = p.local_date(checkin, tz)
    r = pair_day(7, events, day, rules, now)
    if before_us == after_us == 0 and checkout_first:  # a tie: the lower id goes first
        assert (r.orphan_checkouts, r.unclosed, r.total) == (1, 1, timedelta(0))
    elif p.local_date(checkout, tz) == day:
        assert r.total == timedelta(microseconds=before_us + after_us)
        # Sessions are in UTC; == across tzinfos is False for any time in a fold (PEP 495).
        assert r.sessions == (p.Session(checkin.astimezone(UTC), checkout.astimezone(UTC)),)
    else:
        assert r.total == timedelta(0) and r.unclosed == 1


# --- events, rules and the whole report --------------------------------------------------

RATIOS = [Decimal(x) for x in ("0", "0.5", "0.6", "0.7", "0.75", "0.8", "1")] + [
    Decimal(2) / Decimal(3)
]
HOURS = [Decimal(x) for x in ("0", "0.5", "1", "2.25", "3.5", "4", "6")]
OFFSETS = [timezone(timedelta(hours=h)) for h in (-11, -3, 0, 5, 14)] + [
    timezone(timedelta(hours=5, minutes=45))
]


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    """A school, a few dates, events around them (often near a DST change) and a now."""
    tz = draw(st.sampled_from(ZONES))
    z = ZoneInfo(tz)
    near = [t for t in transitions(tz) if t.year < YEARS[-1]]
    use_near: bool = draw(st.booleans())
    if near and use_near:
        change = draw(st.sampled_from(near))
        anchor = change.astimezone(z).date() - timedelta(days=draw(st.integers(0, 2)))
    else:
        change = None
        anchor = draw(st.dates(date(YEARS[0], 1, 1), date(YEARS[-1] - 1, 12, 20)))
    length = draw(st.integers(1, 5))
    window = [anchor + timedelta(days=i) for i in range(length)]
    # Around local midnight of the first date. Every user gets a few events on every
    # date (hypothesis favours small sizes, so one long list would leave most days bare).
    origin = datetime.combine(anchor, datetime.min.time(), tzinfo=z).astimezone(UTC)
    grid = draw(st.sampled_from([15, 30, 60]))
    # A coarse grid makes totals land exactly on thresholds; the pool makes ties.
    pool = [origin + timedelta(minutes=grid * draw(st.integers(0, 96))) for _ in range(3)]
    if change is not None:  # inside or around the repeated or skipped hour
        pool += [change + timedelta(minutes=draw(st.integers(-150, 150))) for _ in range(3)]

    def moment(day: int) -> datetime:
        kind = draw(st.sampled_from(["grid", "any", "pool"]))
        if kind == "pool":
            return draw(st.sampled_from(pool))
        midnight = origin + timedelta(days=day)
        if kind == "grid":
            return midnight + timedelta(minutes=draw(st.sampled_from(range(0, 24 * 60, grid))))
        hour = timedelta(hours=draw(st.sampled_from(range(24))))
        return midnight + hour + timedelta(microseconds=draw(st.integers(0, 3600 * 10**6 - 1)))

    # The same instant under another offset: only the instant may matter. Often all
    # in the school's own zone, where datetimes compare by wall clock unless converted.
    choices: list[list[tzinfo]] = [[UTC], [z], [UTC, z, *OFFSETS]]
    dresses = draw(st.sampled_from(choices))

    def dressed(t: datetime) -> datetime:
        return t.astimezone(draw(st.sampled_from(dresses)))

    users = draw(st.lists(st.integers(1, 9), min_size=1, max_size=3, unique=True))
    drafts = [
        (user, draw(st.sampled_from([p.CHECKIN, p.CHECKOUT])), dressed(moment(day)))
        for user in users
        for day in range(-1, length + 1)
        for _ in range(draw(st.integers(0, 5)))
    ]
    n = len(drafts)
    ids = draw(st.lists(st.integers(1, 10_000), min_size=n, max_size=n, unique=True))
    events = [p.Event(i, u, kind, when) for i, (u, kind, when) in zip(ids, drafts, strict=True)]
    enrolled = draw(st.lists(st.sampled_from([*users, 50, 51]), unique=True))
    rules = p.Rules(
        timezone=tz,
        school_days=draw(st.frozensets(st.integers(1, 7))),
        closures=draw(st.frozensets(st.sampled_from(window))),
        min_daily_hours=draw(st.sampled_from(HOURS)),
        period_ratio=draw(st.sampled_from(RATIOS)),
    )
    late: bool = draw(st.booleans())
    today = draw(st.sampled_from(range(-1, length + 1)))
    now = dressed(origin + timedelta(days=length + 1) if late else moment(today))
    first = draw(st.sampled_from(window))
    last = draw(st.sampled_from([d for d in window if d >= first]))
    granularity = draw(st.sampled_from(p.GRANULARITIES))
    return {
        "events": events,
        "window": window,
        "rules": rules,
        "now": now,
        "enrolled": enrolled,
        "start": first,
        "end": last,
        "granularity": granularity,
    }


def session_us(s: p.Session) -> tuple[int, int | None]:
    return oracle.to_us(s.start), None if s.end is None else oracle.to_us(s.end)


@ORACLE_SETTINGS
@given(scenarios())
def test_pair_day_matches_the_oracle(sc: dict[str, Any]) -> None:
    rules: p.Rules = sc["rules"]
    evs = oracle.convert(sc["events"])
    now_us = oracle.to_us(sc["now"])
    by_range = p.day_results_range(
        sc["events"], sc["window"][0], sc["window"][-1], rules, sc["now"]
    )
    for day in sc["window"]:
        results = day_results(sc["events"], day, rules, sc["now"])
        assert results == by_range.get(day, {})
        # The reports' path: database rows in any order, sessions kept or left out.
        rows = [(e.user_id, e.timestamp, e.id, e.type) for e in sc["events"]]
        assert day_results_rows(rows, day, rules, sc["now"], keep_sessions=True) == results
        assert day_results_rows(rows[::-1], day, rules, sc["now"]) == {
            u: dataclasses.replace(r, sessions=()) for u, r in results.items()
        }
        assert p.day_table(rows[::-1], day, rules, sc["now"]) == p.DayTable.of(results)
        expected_users = {
            e.user_id
            for e in evs
            if e.us <= now_us and oracle.local_date_of(e.us, rules.timezone) == day
        }
        assert set(results) == expected_users
        for user in {e.user_id for e in evs}:
            got = pair_day(user, sc["events"], day, rules, sc["now"])
            want = oracle.oracle_day(evs, user, day, rules.timezone, now_us, rules.min_daily_hours)
            assert got.user_id == user and got.day == day
            assert got.total == timedelta(microseconds=want.total_us)
            assert got.present == want.present
            assert got.checked_in_now == want.checked_in_now
            assert got.orphan_checkouts == want.orphan_checkouts
            assert got.unclosed == want.unclosed
            assert [session_us(s) for s in got.sessions] == want.sessions
            got_first = None if got.first_checkin is None else oracle.to_us(got.first_checkin)
            assert got_first == want.first_checkin_us
            if user in results:
                assert results[user] == got
            assert pair_day(user, sc["events"][::-1], day, rules, sc["now"]) == got
            assert p.DayResult.from_dict(json.loads(json.dumps(got.to_dict()))) == got


@ORACLE_SETTINGS
@given(scenarios())
def test_aggregate_matches_the_oracle(sc: dict[str, Any]) -> None:
    rules: p.Rules = sc["rules"]
    days = {d: day_results(sc["events"], d, rules, sc["now"]) for d in sc["window"]}
    report = p.aggregate(
        sc["enrolled"], days, sc["start"], sc["end"], sc["granularity"], rules, sc["now"]
    )
    # The reports' path: each date's DayTotals, dates without events left out.
    totals = {d: p.DayTotals.of(r) for d, r in days.items() if r}
    assert report == p.aggregate(
        sc["enrolled"], totals, sc["start"], sc["end"], sc["granularity"], rules, sc["now"]
    )
    want, want_users = oracle.oracle_report(
        sc["events"],
        sc["enrolled"],
        sc["start"],
        sc["end"],
        sc["granularity"],
        rules.timezone,
        set(rules.school_days),
        set(rules.closures),
        rules.min_daily_hours,
        rules.period_ratio,
        sc["now"],
    )
    assert json.loads(json.dumps(report_dict(report))) == want
    got_users = {
        u: (s.present_days, s.counted_days, s.present, s.total // timedelta(microseconds=1))
        for u, s in report.per_user.items()
    }
    assert got_users == want_users
    # rule 5: every enrolled user is either present or absent wherever there is a figure
    for bucket in [report_dict(report), *report_dict(report)["buckets"]]:
        present = bucket.get("presences", bucket.get("present"))
        absent = bucket.get("absences", bucket.get("absent"))
        assert (present is None) == (absent is None)
        if present is not None:
            assert present + absent == report.enrolled
    if report.presences is None:
        assert all(s.present is None for s in report.per_user.values())
    else:
        assert report.presences == sum(bool(s.present) for s in report.per_user.values())


@settings(max_examples=300, deadline=None)
@given(
    st.dates(date(2019, 1, 1), date(2031, 12, 31)),
    st.integers(0, 120),
    st.sampled_from(p.GRANULARITIES),
)
def test_bucket_ranges_tile_the_range(start: date, length: int, granularity: str) -> None:
    end = start + timedelta(days=length)
    ranges = p.bucket_ranges(start, end, granularity)
    groups = oracle.oracle_buckets(start, end, granularity)
    assert ranges == [(g[0], g[-1]) for g in groups]
    assert ranges[0][0] == start and ranges[-1][1] == end
    for (_, last), (first, _) in itertools.pairwise(ranges):
        assert first == last + timedelta(days=1)
    for first, last in ranges:
        assert first <= last
        if granularity == p.WEEK:
            assert first.isocalendar()[:2] == last.isocalendar()[:2]
        if granularity == p.MONTH:
            assert (first.year, first.month) == (last.year, last.month)


@settings(max_examples=300, deadline=None)
@given(
    st.integers(0, 60),
    st.integers(0, 60),
    st.one_of(
        st.sampled_from(RATIOS),
        st.decimals(min_value=0, max_value=1, places=4),
        st.fractions(0, 1, max_denominator=60).map(
            lambda f: Decimal(f.numerator) / Decimal(f.denominator)
        ),
    ),
)
@example(4, 5, Decimal("0.8"))
@example(17, 21, Decimal("0.8"))
@example(7, 10, Decimal("0.7"))
def test_period_present_compares_exactly(a: int, b: int, ratio: Decimal) -> None:
    present_days, counted = min(a, b), max(a, b)
    got = p.period_present(present_days, counted, ratio)
    if counted == 0:
        assert got is None
    else:
        assert got == oracle.more_than(present_days, counted, ratio)
