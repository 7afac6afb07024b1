"""Unit tests of attendance.presence: the worked examples of docs/presence.md, then edges."""

from __future__ import annotations

import itertools
import json
from collections.abc import Collection, Iterable
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from attendance import presence as p
from tests.unit.presence_helpers import bucket_dict, day_results, pair_day, report_dict

RULES = p.Rules()  # UTC, Monday to Friday, no closures, 4 h, 0.8
NOW = datetime(2026, 11, 27, 10, tzinfo=UTC)  # Friday
MON, TUE, WED, THU, FRI = (date(2026, 11, 23) + timedelta(days=i) for i in range(5))
SAT, SUN = date(2026, 11, 28), date(2026, 11, 29)
_ids = itertools.count(1)


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


def ci(when: str, user: int = 1, id: int | None = None) -> p.Event:
    return p.Event(next(_ids) if id is None else id, user, p.CHECKIN, ts(when))


def co(when: str, user: int = 1, id: int | None = None) -> p.Event:
    return p.Event(next(_ids) if id is None else id, user, p.CHECKOUT, ts(when))


def day_of(
    events: Iterable[p.Event], day: date, rules: p.Rules = RULES, now: datetime = NOW
) -> p.DayResult:
    return pair_day(1, list(events), day, rules, now)


def report(
    events: Iterable[p.Event],
    users: Collection[int],
    start: date,
    end: date,
    granularity: str,
    rules: p.Rules = RULES,
    now: datetime = NOW,
) -> p.Report:
    days = p.day_results_range(list(events), start, end, rules, now)
    return p.aggregate(users, days, start, end, granularity, rules, now)


def morning(day: date, user: int = 1, hours: float = 4.5) -> list[p.Event]:
    """A checkin at 08:00 UTC and a checkout `hours` later."""
    start = datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=8)
    return [
        p.Event(next(_ids), user, p.CHECKIN, start),
        p.Event(next(_ids), user, p.CHECKOUT, start + timedelta(hours=hours)),
    ]


# --- the worked examples (school in UTC, Mon-Fri, now = Fri 2026-11-27 10:00) --------------


def test_example_01_exactly_four_hours_is_absent() -> None:
    r = day_of([ci("2026-11-23T08:00:00Z"), co("2026-11-23T12:00:00Z")], MON)
    assert r.total == timedelta(hours=4)
    assert r.present is False


def test_example_02_four_hours_and_one_second_is_present() -> None:
    r = day_of([ci("2026-11-23T08:00:00Z"), co("2026-11-23T12:00:01Z")], MON)
    assert r.total == timedelta(hours=4, seconds=1)
    assert r.present is True


def test_example_03_sessions_add_up() -> None:
    r = day_of(
        [
            ci("2026-11-24T08:00:00Z"),
            co("2026-11-24T10:00:00Z"),
            ci("2026-11-24T11:00:00Z"),
            co("2026-11-24T13:30:00Z"),
        ],
        TUE,
    )
    assert r.total == timedelta(hours=4, minutes=30)
    assert r.present is True
    assert len(r.sessions) == 2


def test_example_04_second_checkin_is_ignored() -> None:
    r = day_of(
        [ci("2026-11-24T08:00:00Z"), ci("2026-11-24T09:00:00Z"), co("2026-11-24T12:30:00Z")],
        TUE,
    )
    assert r.total == timedelta(hours=4, minutes=30)
    assert r.present is True
    assert r.sessions == (p.Session(ts("2026-11-24T08:00:00Z"), ts("2026-11-24T12:30:00Z")),)


def test_example_05_orphan_checkout_is_an_anomaly_not_time() -> None:
    r = day_of(
        [co("2026-11-24T07:00:00Z"), ci("2026-11-24T08:00:00Z"), co("2026-11-24T11:00:00Z")],
        TUE,
    )
    assert r.total == timedelta(hours=3)
    assert r.present is False
    assert r.orphan_checkouts == 1


def test_example_06_unclosed_session_counts_nothing() -> None:
    r = day_of([ci("2026-11-25T08:00:00Z")], WED)
    assert r.total == timedelta(0)
    assert r.present is False
    assert r.unclosed == 1
    assert r.checked_in_now is False
    assert r.sessions == (p.Session(ts("2026-11-25T08:00:00Z"), None),)


def test_example_07_checked_in_now_is_present() -> None:
    r = day_of([ci("2026-11-27T09:30:00Z")], FRI)
    assert r.checked_in_now is True
    assert r.present is True
    assert r.unclosed == 0
    assert r.total == timedelta(minutes=30)  # now - open


def test_example_08_short_closed_session_today_is_absent() -> None:
    r = day_of([ci("2026-11-27T06:00:00Z"), co("2026-11-27T06:30:00Z")], FRI)
    assert r.total == timedelta(minutes=30)
    assert r.checked_in_now is False
    assert r.present is False


def test_example_09_week_needs_more_than_80_percent() -> None:
    week = [date(2026, 11, 16) + timedelta(days=i) for i in range(5)]
    events = [e for d in week for e in morning(d, user=1)]
    events += [e for d in week[:4] for e in morning(d, user=2)]
    rep = report(events, [1, 2], date(2026, 11, 16), date(2026, 11, 22), p.WEEK)
    (bucket,) = rep.buckets
    assert bucket_dict(bucket) == {
        "start": "2026-11-16",
        "end": "2026-11-22",
        "counted_days": 5,
        "present": 1,
        "absent": 1,
    }
    assert rep.per_user[1].present is True and rep.per_user[1].present_days == 5
    assert rep.per_user[2].present is False and rep.per_user[2].present_days == 4


def test_example_10_today_counts_and_checked_in_now_makes_it() -> None:
    events = [e for d in (MON, TUE, WED, THU) for e in morning(d, user=1)]
    events += [ci("2026-11-27T09:30:00Z", user=1)]
    events += [e for d in (MON, TUE, WED, THU) for e in morning(d, user=2)]  # not in today
    rep = report(events, [1, 2], MON, SUN, p.WEEK)
    (bucket,) = rep.buckets
    assert bucket.counted_days == 5
    assert (bucket.present, bucket.absent) == (1, 1)
    assert rep.per_user[1].present is True
    assert rep.per_user[2].present is False  # 4/5


def test_example_11_week_after_today_has_no_figure() -> None:
    rep = report([], [1, 2], date(2026, 11, 30), date(2026, 12, 6), p.WEEK)
    assert bucket_dict(rep.buckets[0]) == {
        "start": "2026-11-30",
        "end": "2026-12-06",
        "counted_days": 0,
        "present": None,
        "absent": None,
    }
    assert (rep.presences, rep.absences) == (None, None)


def test_example_12_local_date_in_ho_chi_minh() -> None:
    rules = p.Rules(timezone="Asia/Ho_Chi_Minh")
    events = [ci("2026-11-23T00:30:00Z"), co("2026-11-23T05:00:00Z")]
    r = day_of(events, MON, rules)
    assert r.total == timedelta(hours=4, minutes=30)
    assert r.present is True
    assert p.local_date(ts("2026-11-02T23:30:00Z"), "Asia/Ho_Chi_Minh") == date(2026, 11, 3)


# --- rule 2 and 3 edges -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("length", "present"),
    [
        (timedelta(hours=4) - timedelta(microseconds=1), False),
        (timedelta(hours=4), False),
        (timedelta(hours=4, microseconds=1), True),
        (timedelta(hours=4, seconds=1), True),
    ],
)
def test_four_hour_threshold_to_the_microsecond(length: timedelta, present: bool) -> None:
    start = ts("2026-11-23T08:00:00Z")
    events = [p.Event(1, 1, p.CHECKIN, start), p.Event(2, 1, p.CHECKOUT, start + length)]
    r = day_of(events, MON)
    assert r.total == length
    assert r.present is present


def test_checked_in_now_total_is_exact_to_the_microsecond() -> None:
    now = ts("2026-11-27T12:00:00.000001Z")
    r = day_of([ci("2026-11-27T08:00:00Z")], FRI, now=now)
    assert r.total == timedelta(hours=4, microseconds=1)
    assert r.present is True


def test_event_exactly_at_now_is_counted() -> None:
    closed = day_of([ci("2026-11-27T05:00:00Z"), co("2026-11-27T10:00:00Z")], FRI)
    assert closed.total == timedelta(hours=5) and closed.checked_in_now is False
    just_in = day_of([ci("2026-11-27T10:00:00Z")], FRI)
    assert just_in.checked_in_now is True
    assert just_in.total == timedelta(0)
    assert just_in.present is True


def test_event_after_now_is_ignored() -> None:
    r = day_of([ci("2026-11-27T09:00:00Z"), co("2026-11-27T10:00:00.000001Z")], FRI)
    assert r.checked_in_now is True
    assert r.total == timedelta(hours=1)
    assert r.sessions == (p.Session(ts("2026-11-27T09:00:00Z"), None),)
    assert day_results([ci("2026-11-27T10:00:01Z")], FRI, RULES, NOW) == {}


def test_ties_are_broken_by_id_not_input_order() -> None:
    at = ts("2026-11-24T08:00:00Z")
    out_first = [p.Event(2, 1, p.CHECKIN, at), p.Event(1, 1, p.CHECKOUT, at)]
    r = day_of(out_first, TUE)
    assert r.orphan_checkouts == 1 and r.unclosed == 1
    in_first = [p.Event(2, 1, p.CHECKOUT, at), p.Event(1, 1, p.CHECKIN, at)]
    r = day_of(in_first, TUE)
    assert r.orphan_checkouts == 0 and r.unclosed == 0
    assert r.sessions == (p.Session(at, at),)


def test_order_is_by_instant_whatever_the_offset() -> None:
    plus_two = timezone(timedelta(hours=2))
    events = [
        p.Event(9, 1, p.CHECKOUT, datetime(2026, 11, 24, 14, 30, tzinfo=plus_two)),  # 12:30Z
        p.Event(1, 1, p.CHECKIN, datetime(2026, 11, 24, 8, 0, tzinfo=UTC)),
    ]
    r = day_of(events, TUE)
    assert r.total == timedelta(hours=4, minutes=30)
    assert r.sessions[0].start.tzinfo is UTC and r.sessions[0].end == ts("2026-11-24T12:30Z")


def test_sessions_never_cross_midnight() -> None:
    events = [ci("2026-11-23T22:00:00Z"), co("2026-11-24T06:00:00Z")]
    assert day_of(events, MON).unclosed == 1
    tue = day_of(events, TUE)
    assert tue.orphan_checkouts == 1 and tue.total == timedelta(0)


def test_other_users_events_are_not_paired() -> None:
    events = [ci("2026-11-24T08:00:00Z", user=1), co("2026-11-24T13:00:00Z", user=2)]
    assert day_of(events, TUE).unclosed == 1
    results = day_results(events, TUE, RULES, NOW)
    assert set(results) == {1, 2}
    assert results[2].orphan_checkouts == 1


def test_first_checkin_is_the_earliest_counted_checkin() -> None:
    events = [co("2026-11-24T07:00Z"), ci("2026-11-24T07:30Z"), ci("2026-11-24T07:45Z")]
    assert day_of(events, TUE).first_checkin == ts("2026-11-24T07:30Z")
    assert day_of([co("2026-11-24T07:00Z")], TUE).first_checkin is None


def test_future_day_is_absent() -> None:
    assert day_of([], SAT).present is False
    rep = report([], [1], FRI, SUN, p.DAY)
    assert [b.present for b in rep.buckets] == [0, 0, 0]


# --- thresholds, calendars ----------------------------------------------------------------


def test_custom_min_daily_hours() -> None:
    rules = p.Rules(min_daily_hours=Decimal("3.5"))
    start = ts("2026-11-24T08:00:00Z")
    for length, present in [
        (timedelta(hours=3, minutes=30), False),
        (timedelta(hours=3, minutes=30, microseconds=1), True),
    ]:
        events = [p.Event(1, 1, p.CHECKIN, start), p.Event(2, 1, p.CHECKOUT, start + length)]
        assert day_of(events, TUE, rules).present is present


@pytest.mark.parametrize(
    ("present_days", "counted", "ratio", "expected"),
    [
        (4, 5, Decimal("0.8"), False),
        (5, 5, Decimal("0.8"), True),
        (17, 21, Decimal("0.8"), True),
        (16, 21, Decimal("0.8"), False),
        (7, 10, Decimal("0.7"), False),
        (8, 10, Decimal("0.7"), True),
        (0, 3, Decimal(0), False),
        (1, 3, Decimal(0), True),
        (3, 3, Decimal(1), False),
        (0, 0, Decimal("0.8"), None),
    ],
)
def test_period_present(
    present_days: int, counted: int, ratio: Decimal, expected: bool | None
) -> None:
    assert p.period_present(present_days, counted, ratio) is expected


def test_float_thresholds_are_read_as_written() -> None:
    # Decimal(0.7) would be 0.69999..., making 7/10 "more than 70%".
    rules = p.Rules(period_ratio=0.7, min_daily_hours=3.3)  # type: ignore[arg-type]
    assert rules.period_ratio == Decimal("0.7") and rules.min_daily_hours == Decimal("3.3")
    assert p.period_present(7, 10, 0.7) is False  # type: ignore[arg-type]


def test_period_ratio_over_ten_school_days() -> None:
    rules = p.Rules(period_ratio=Decimal("0.7"))
    days = [
        d for d in (date(2026, 11, 9) + timedelta(days=i) for i in range(14)) if d.weekday() < 5
    ]
    now = ts("2026-11-23T00:00:00Z")
    seven = [e for d in days[:7] for e in morning(d, user=1)]
    eight = [e for d in days[:8] for e in morning(d, user=2)]
    rep = report(seven + eight, [1, 2], days[0], days[-1], p.MONTH, rules, now)
    assert rep.per_user[1].counted_days == 10
    assert rep.per_user[1].present is False
    assert rep.per_user[2].present is True
    assert (rep.presences, rep.absences) == (1, 1)


def test_invalid_rules_and_events_are_refused() -> None:
    with pytest.raises(ValueError):
        p.Event(1, 1, "arrive", NOW)
    with pytest.raises(ValueError):
        p.Event(1, 1, p.CHECKIN, datetime(2026, 11, 27, 9))  # naive
    with pytest.raises(ValueError):
        pair_day(1, [], MON, RULES, datetime(2026, 11, 27, 9))
    with pytest.raises(KeyError):  # ZoneInfoNotFoundError
        p.Rules(timezone="Mars/Olympus_Mons")
    with pytest.raises(ValueError):
        p.Rules(school_days=frozenset({0}))
    with pytest.raises(ValueError):
        p.Rules(min_daily_hours=Decimal(-1))
    with pytest.raises(ValueError):
        p.Rules(period_ratio=Decimal("NaN"))
    with pytest.raises(ValueError):
        p.period_present(6, 5, Decimal("0.8"))


def test_closures_are_not_counted_days() -> None:
    rules = p.Rules(closures=frozenset({WED}))
    assert not p.is_school_day(WED, rules)
    assert p.counted_days(MON, SUN, rules, FRI) == [MON, TUE, THU, FRI]
    events = [e for d in (MON, TUE, THU) for e in morning(d)] + [ci("2026-11-27T09:00Z")]
    rep = report(events, [1], MON, SUN, p.WEEK, rules)
    assert rep.buckets[0].counted_days == 4
    assert rep.per_user[1].present is True  # 4/4


def test_custom_school_days() -> None:
    rules = p.Rules(school_days=frozenset({1, 2, 3, 4, 5, 6}))
    assert p.is_school_day(SAT, rules)
    assert not p.is_school_day(SUN, rules)
    saturday_now = ts("2026-11-28T23:00:00Z")
    events = [e for d in (MON, TUE, WED, THU, FRI) for e in morning(d)]
    rep = report(events, [1], MON, SUN, p.WEEK, rules, saturday_now)
    assert rep.buckets[0].counted_days == 6
    assert rep.per_user[1].present is True  # 5/6 = 83%
    assert p.counted_days(MON, SUN, p.Rules(school_days=frozenset()), SUN) == []


def test_counted_days_stop_at_today() -> None:
    assert p.counted_days(MON, SUN, RULES, WED) == [MON, TUE, WED]
    assert p.counted_days(MON, SUN, RULES, date(2026, 11, 1)) == []


# --- daylight saving time and day bounds -----------------------------------------------


def test_berlin_spring_forward_counts_real_time() -> None:
    rules = p.Rules(timezone="Europe/Berlin")
    day = date(2026, 3, 29)
    now = ts("2026-03-30T12:00:00Z")
    # 01:00 CET is 00:00Z; 06:00 CEST is 04:00Z: five wall-clock hours, four real ones.
    absent = [ci("2026-03-29T01:00:00+01:00"), co("2026-03-29T06:00:00+02:00")]
    assert day_of(absent, day, rules, now).total == timedelta(hours=4)
    assert day_of(absent, day, rules, now).present is False
    present = [ci("2026-03-29T01:00:00+01:00"), co("2026-03-29T06:00:01+02:00")]
    assert day_of(present, day, rules, now).present is True
    start, end = p.day_bounds(day, "Europe/Berlin")
    assert (start, end) == (ts("2026-03-28T23:00:00Z"), ts("2026-03-29T22:00:00Z"))


def test_berlin_fall_back_counts_real_time() -> None:
    rules = p.Rules(timezone="Europe/Berlin")
    day = date(2026, 10, 25)
    now = ts("2026-10-26T12:00:00Z")
    # 01:00 CEST is 23:00Z the day before; 04:00 CET is 03:00Z: three wall hours, four real.
    events = [ci("2026-10-24T23:00:00Z"), co("2026-10-25T03:00:01Z")]
    assert day_of(events, day, rules, now).total == timedelta(hours=4, seconds=1)
    assert day_of(events, day, rules, now).present is True
    assert p.day_bounds(day, "Europe/Berlin") == (
        ts("2026-10-24T22:00:00Z"),
        ts("2026-10-25T23:00:00Z"),
    )


def test_repeated_hour_in_the_schools_own_zone_is_ordered_by_instant() -> None:
    # Aware datetimes sharing one ZoneInfo compare and subtract by wall clock; the
    # first 02:30 (CEST, 00:30Z) comes before the second 02:15 (CET, 01:15Z).
    berlin = ZoneInfo("Europe/Berlin")
    rules = p.Rules(timezone="Europe/Berlin")
    checkin = datetime(2026, 10, 25, 2, 30, tzinfo=berlin)
    checkout = datetime(2026, 10, 25, 2, 15, fold=1, tzinfo=berlin)
    now = datetime(2026, 10, 25, 2, 45, fold=1, tzinfo=berlin)
    events = [p.Event(1, 1, p.CHECKIN, checkin), p.Event(2, 1, p.CHECKOUT, checkout)]
    r = day_of(events, date(2026, 10, 25), rules, now)
    assert r.orphan_checkouts == 0
    assert r.total == timedelta(minutes=45)
    assert r.sessions == (p.Session(ts("2026-10-25T00:30:00Z"), ts("2026-10-25T01:15:00Z")),)
    # the same wall time on the other side of the fold is a later instant: still counted
    assert day_of([p.Event(3, 1, p.CHECKIN, now)], date(2026, 10, 25), rules, now).checked_in_now


def test_santiago_midnight_transitions() -> None:
    tz = "America/Santiago"
    # 2026-09-06: clocks jump from 00:00 to 01:00, so the day starts at 01:00 -03.
    assert p.day_bounds(date(2026, 9, 6), tz) == (
        ts("2026-09-06T04:00:00Z"),
        ts("2026-09-07T03:00:00Z"),
    )
    assert p.local_date(ts("2026-09-06T03:59:59.999999Z"), tz) == date(2026, 9, 5)
    # 2026-04-05: 00:00 -03 falls back to 23:00 -04, so 2026-04-04 lasts 25 hours.
    start, end = p.day_bounds(date(2026, 4, 4), tz)
    assert end - start == timedelta(hours=25)
    assert end == p.day_bounds(date(2026, 4, 5), tz)[0] == ts("2026-04-05T04:00:00Z")
    rules = p.Rules(timezone=tz)
    # 21:00 -03 to the second 23:30 (-04): three and a half real hours on Saturday.
    events = [ci("2026-04-05T00:00:00Z"), co("2026-04-05T03:30:00Z")]
    r = day_of(events, date(2026, 4, 4), rules, ts("2026-04-10T00:00:00Z"))
    assert r.total == timedelta(hours=3, minutes=30)


@pytest.mark.parametrize(
    ("tz", "day", "hours"),
    [
        ("America/Havana", date(2026, 3, 8), 23),  # 00:00 -> 01:00
        ("America/Havana", date(2026, 11, 1), 25),  # 01:00 -> 00:00: midnight twice
        ("Asia/Beirut", date(2022, 3, 27), 23),  # 00:00 -> 01:00
        ("Asia/Beirut", date(2022, 10, 29), 25),  # 00:00 -> 23:00 the day before
        ("Australia/Lord_Howe", date(2026, 4, 5), 24.5),  # half-hour DST
        ("Pacific/Kiritimati", date(1994, 12, 31), 0),  # skipped when it moved to +14
        ("Pacific/Apia", date(2011, 12, 30), 0),  # skipped when it crossed the date line
        ("Asia/Kathmandu", date(2026, 1, 1), 24),
    ],
)
def test_day_bounds_on_odd_days(tz: str, day: date, hours: float) -> None:
    one = timedelta(microseconds=1)
    start, end = p.day_bounds(day, tz)
    assert end - start == timedelta(hours=hours)
    assert p.day_bounds(day - timedelta(days=1), tz)[1] == start
    assert p.day_bounds(day + timedelta(days=1), tz)[0] == end
    assert p.local_date(start - one, tz) < day < p.local_date(end, tz)
    if hours:
        assert p.local_date(start, tz) == day == p.local_date(end - one, tz)


def test_day_bounds_where_the_date_runs_backwards() -> None:
    # Goose Bay, 2010-11-07 00:01 -03 fell back to 2010-11-06 23:01 -04: the 7th has a
    # first minute, then the 6th comes back for an hour. Bounds are the hull of each day.
    tz = "America/Goose_Bay"
    sixth, seventh = p.day_bounds(date(2010, 11, 6), tz), p.day_bounds(date(2010, 11, 7), tz)
    assert seventh[0] == ts("2010-11-07T03:00:00Z")
    assert sixth[1] == ts("2010-11-07T04:00:00Z")
    for minute in range(0, 24 * 60 * 3, 7):
        t = ts("2010-11-05T12:00:00Z") + timedelta(minutes=minute)
        day = p.local_date(t, tz)
        if day in (date(2010, 11, 6), date(2010, 11, 7)):
            start, end = p.day_bounds(day, tz)
            assert start <= t < end


# --- buckets and reports --------------------------------------------------------------


def test_bucket_ranges_week_crossing_a_month() -> None:
    assert p.bucket_ranges(date(2026, 11, 25), date(2026, 12, 9), p.WEEK) == [
        (date(2026, 11, 25), date(2026, 11, 29)),
        (date(2026, 11, 30), date(2026, 12, 6)),
        (date(2026, 12, 7), date(2026, 12, 9)),
    ]


def test_bucket_ranges_months_and_year_end() -> None:
    assert p.bucket_ranges(date(2025, 12, 15), date(2026, 3, 10), p.MONTH) == [
        (date(2025, 12, 15), date(2025, 12, 31)),
        (date(2026, 1, 1), date(2026, 1, 31)),
        (date(2026, 2, 1), date(2026, 2, 28)),
        (date(2026, 3, 1), date(2026, 3, 10)),
    ]
    assert p.bucket_ranges(MON, WED, p.DAY) == [(MON, MON), (TUE, TUE), (WED, WED)]
    assert p.bucket_ranges(SUN, SUN, p.WEEK) == [(SUN, SUN)]


def test_bad_granularity_or_range_is_refused() -> None:
    with pytest.raises(ValueError):
        p.bucket_ranges(MON, TUE, "year")
    with pytest.raises(ValueError):
        p.aggregate([1], {}, TUE, MON, p.DAY, RULES, NOW)
    with pytest.raises(ValueError):
        p.aggregate([1], {}, MON, TUE, "fortnight", RULES, NOW)


def test_day_buckets_apply_rule_3_to_every_date() -> None:
    now = ts("2026-11-30T09:00:00Z")
    events = morning(FRI) + morning(SAT) + [ci("2026-11-30T08:00:00Z")]
    rep = report(events, [1, 2], FRI, date(2026, 12, 1), p.DAY, now=now)
    assert [bucket_dict(b) for b in rep.buckets] == [
        {"date": "2026-11-27", "school_day": True, "present": 1, "absent": 1},
        {"date": "2026-11-28", "school_day": False, "present": 1, "absent": 1},
        {"date": "2026-11-29", "school_day": False, "present": 0, "absent": 2},
        {"date": "2026-11-30", "school_day": True, "present": 1, "absent": 1},
        {"date": "2026-12-01", "school_day": True, "present": 0, "absent": 2},
    ]
    # overall over several dates: rule 4 over Fri and Mon (Tue is after today)
    assert rep.per_user[1].counted_days == 2 and rep.per_user[1].present_days == 2
    assert (rep.presences, rep.absences) == (1, 1)


def test_single_date_overall_uses_rule_3_even_on_a_weekend() -> None:
    rep = report(morning(SAT), [1, 2], SAT, SAT, p.DAY, now=ts("2026-11-30T09:00:00Z"))
    assert (rep.presences, rep.absences) == (1, 1)
    assert rep.per_user[1].present is True and rep.per_user[1].counted_days == 0


def test_two_weekend_dates_have_no_overall_figure() -> None:
    rep = report(morning(SAT), [1, 2], SAT, SUN, p.DAY, now=ts("2026-11-30T09:00:00Z"))
    assert (rep.presences, rep.absences) == (None, None)
    assert rep.buckets[0].present == 1
    assert rep.per_user[1].present is None


def test_month_report_shape() -> None:
    events = [e for d in (MON, TUE, WED, THU) for e in morning(d)]
    rep = report(events, [1, 2, 3], date(2026, 11, 1), date(2026, 12, 31), p.MONTH)
    assert report_dict(rep) == {
        "from": "2026-11-01",
        "to": "2026-12-31",
        "granularity": "month",
        "enrolled": 3,
        "presences": 0,
        "absences": 3,
        "buckets": [
            {
                "start": "2026-11-01",
                "end": "2026-11-30",
                "counted_days": 20,
                "present": 0,
                "absent": 3,
            },
            {
                "start": "2026-12-01",
                "end": "2026-12-31",
                "counted_days": 0,
                "present": None,
                "absent": None,
            },
        ],
    }
    assert rep.per_user[1].present_days == 4
    assert rep.per_user[1].total == timedelta(hours=18)
    assert rep.per_user[2].to_dict() == {
        "user_id": 2,
        "present_days": 0,
        "counted_days": 20,
        "present": False,
        "total_us": 0,
        "seconds": 0.0,
    }


def test_only_enrolled_users_count() -> None:
    events = morning(MON, user=1) + morning(MON, user=99)
    rep = report(events, [1, 2, 2], MON, MON, p.DAY)
    assert rep.enrolled == 2
    assert (rep.presences, rep.absences) == (1, 1)
    assert set(rep.per_user) == {1, 2}
    empty = report(events, [], MON, TUE, p.WEEK)
    assert (empty.presences, empty.absences) == (0, 0)


def test_aggregate_decides_with_its_own_now_and_rules() -> None:
    # A result paired while checked in yesterday is no longer "checked in now" today.
    stale = pair_day(1, [ci("2026-11-26T09:00Z")], THU, RULES, ts("2026-11-26T10:00Z"))
    assert stale.present is True
    rep = p.aggregate([1], {THU: {1: stale}}, THU, THU, p.DAY, RULES, NOW)
    assert rep.presences == 0


def test_dates_after_today_are_absent_whatever_results_say() -> None:
    later = pair_day(1, morning(SAT), SAT, RULES, ts("2026-11-30T00:00Z"))
    assert later.present is True
    rep = p.aggregate([1], {SAT: {1: later}}, SAT, SAT, p.DAY, RULES, NOW)
    assert rep.presences == 0
    assert rep.per_user[1].total == timedelta(0)


# --- serialisation ------------------------------------------------------------------------


def test_day_result_round_trips_through_json() -> None:
    events = [
        co("2026-11-27T06:00:00.000001+01:00"),
        ci("2026-11-27T07:00:00.123456Z"),
        co("2026-11-27T08:00:00Z"),
        ci("2026-11-27T09:00:00Z"),
    ]
    r = day_of(events, FRI)
    d = r.to_dict()
    assert d["total_us"] == 3_600_000_000 - 123_456 + 3_600_000_000
    assert d["seconds"] == pytest.approx(7199.876544)
    assert d["sessions"][-1]["end"] is None
    back = p.DayResult.from_dict(json.loads(json.dumps(d)))
    assert back == r
    assert back.to_dict() == d
    empty = day_of([], MON)
    assert p.DayResult.from_dict(json.loads(json.dumps(empty.to_dict()))) == empty


def test_zone_lookups_are_cached() -> None:
    assert p.zone("Europe/Berlin") is p.zone("Europe/Berlin")
    assert p.Rules(timezone="Europe/Berlin").zone is p.zone("Europe/Berlin")
