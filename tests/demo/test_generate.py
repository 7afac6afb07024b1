"""Tests for the demo event generator."""

from __future__ import annotations

import time as clock
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attendance.demo import generate as demo
from attendance.demo.generate import (
    GeneratedEvent,
    SchoolPlan,
    count_estimate,
    generate_school_events,
    school_plans,
    user_names,
)

NOV = (date(2026, 11, 2), date(2026, 11, 27))  # four Monday-to-Friday weeks
MIN_DAILY = timedelta(hours=4)
Sample = tuple[SchoolPlan, int, list[date], list[GeneratedEvent]]


@dataclass
class Day:
    """One user's paired day, per docs/presence.md section 2."""

    total: timedelta
    orphans: int
    ignored_checkins: int
    open_at_end: bool
    events: list[GeneratedEvent]


def pair(events: Iterable[GeneratedEvent], tz: str) -> dict[tuple[int, date], Day]:
    """Run the pairing state machine per (user, local date)."""
    zone = ZoneInfo(tz)
    grouped: dict[tuple[int, date], list[GeneratedEvent]] = defaultdict(list)
    for event in events:
        grouped[event.user_key, event.timestamp.astimezone(zone).date()].append(event)
    days = {}
    for key, evs in grouped.items():
        total, orphans, ignored, opened = timedelta(), 0, 0, None
        for e in sorted(evs, key=lambda e: e.timestamp):
            if e.type == "checkin":
                if opened is None:
                    opened = e.timestamp
                else:
                    ignored += 1
            elif opened is None:
                orphans += 1
            else:
                total += e.timestamp - opened
                opened = None
        days[key] = Day(total, orphans, ignored, opened is not None, evs)
    return days


def school_days(start: date, end: date, plan: SchoolPlan) -> list[date]:
    """The dates on which the plan's school is open."""
    days = [start + timedelta(days=k) for k in range((end - start).days + 1)]
    return [d for d in days if d.isoweekday() in plan.school_days and d not in plan.closures]


def local(event: GeneratedEvent, tz: str) -> datetime:
    """The event's school-local wall-clock time."""
    return event.timestamp.astimezone(ZoneInfo(tz))


@pytest.fixture(scope="module")
def big() -> Sample:
    """500 pupils over 12 weeks: a sample large enough for rates."""
    plan = SchoolPlan("Big School", "Europe/Berlin")
    start, end = date(2026, 9, 7), date(2026, 11, 27)
    events = list(generate_school_events(plan, 500, start, end, seed=7))
    return plan, 500, school_days(start, end, plan), events


# Determinism


def test_same_seed_gives_identical_events() -> None:
    plan = SchoolPlan("A", "Asia/Ho_Chi_Minh")
    first = list(generate_school_events(plan, 60, *NOV, seed=3, school_index=1))
    second = list(generate_school_events(plan, 60, *NOV, seed=3, school_index=1))
    assert first and first == second


def test_different_seed_or_school_gives_different_events() -> None:
    plan = SchoolPlan("A")
    base = list(generate_school_events(plan, 60, *NOV, seed=3))
    assert base != list(generate_school_events(plan, 60, *NOV, seed=4))
    other_school = list(generate_school_events(plan, 60, *NOV, seed=3, school_index=1))
    assert [e.timestamp for e in base] != [e.timestamp for e in other_school]


def test_a_user_day_does_not_depend_on_range_or_school_size() -> None:
    plan = SchoolPlan("A", "America/New_York")
    short = list(generate_school_events(plan, 40, NOV[0], date(2026, 11, 13), seed=9))
    longer = list(generate_school_events(plan, 80, date(2026, 10, 26), NOV[1], seed=9))
    kept = [
        e
        for e in longer
        if e.user_key < 40 and NOV[0] <= local(e, plan.timezone).date() <= date(2026, 11, 13)
    ]
    assert short == kept


def test_slow_timezone_path_matches_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    plan = SchoolPlan("A", "America/New_York")
    span = (date(2026, 10, 26), date(2026, 11, 6))  # DST ends on 1 November
    fast = list(generate_school_events(plan, 50, *span, seed=5))
    monkeypatch.setattr(demo, "_utc_base", lambda day, tz: None)
    assert list(generate_school_events(plan, 50, *span, seed=5)) == fast


# Shape of the events


def test_events_are_in_timestamp_order_and_utc() -> None:
    plan = SchoolPlan("A", "Asia/Ho_Chi_Minh")
    events = list(generate_school_events(plan, 200, *NOV, seed=1))
    stamps = [e.timestamp for e in events]
    assert stamps == sorted(stamps)
    assert all(ts.tzinfo is UTC for ts in stamps)
    assert {e.type for e in events} == {"checkin", "checkout"}


def test_no_checkout_ever_precedes_its_checkin(big: Sample) -> None:
    plan, _, _, events = big
    days = pair(events, plan.timezone)
    assert sum(d.orphans for d in days.values()) == 0
    assert sum(d.ignored_checkins for d in days.values()) == 0
    assert all(d.events[0].type == "checkin" for d in days.values())


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    tz=st.sampled_from(["UTC", "Asia/Ho_Chi_Minh", "America/New_York", "Pacific/Auckland"]),
    start=st.dates(date(2020, 1, 1), date(2035, 12, 31)),
    length=st.integers(0, 20),
)
def test_pairing_invariants_hold_for_any_seed(seed: int, tz: str, start: date, length: int) -> None:
    plan = SchoolPlan("A", tz)
    end = start + timedelta(days=length)
    events = list(generate_school_events(plan, 30, start, end, seed=seed))
    for (_, day), paired in pair(events, tz).items():
        assert paired.orphans == 0 and paired.ignored_checkins == 0
        assert start <= day <= end and day.isoweekday() <= 5
        types = [e.type for e in paired.events]
        assert types[::2] == ["checkin"] * len(types[::2])
        assert "checkin" not in types[1::2]


def test_no_traffic_on_weekends_or_closures() -> None:
    closures = frozenset({date(2026, 11, 11), date(2026, 11, 26)})
    plan = SchoolPlan("A", "America/New_York", closures=closures)
    events = list(generate_school_events(plan, 100, date(2026, 11, 1), date(2026, 11, 30), 2))
    dates = {local(e, plan.timezone).date() for e in events}
    assert dates == set(school_days(date(2026, 11, 1), date(2026, 11, 30), plan))
    assert not closures & dates
    assert all(d.isoweekday() <= 5 for d in dates)


def test_school_days_are_configurable() -> None:
    plan = SchoolPlan("A", school_days=frozenset({2, 4, 6}))
    events = list(generate_school_events(plan, 50, *NOV, seed=2))
    assert {e.timestamp.date().isoweekday() for e in events} == {2, 4, 6}


def test_empty_inputs_give_nothing() -> None:
    plan = SchoolPlan("A")
    assert list(generate_school_events(plan, 0, *NOV, seed=1)) == []
    assert list(generate_school_events(plan, 10, NOV[1], NOV[0], seed=1)) == []
    with pytest.raises(ValueError):
        list(generate_school_events(plan, -1, *NOV, seed=1))


def test_client_event_ids_are_unique_and_deterministic() -> None:
    plan = SchoolPlan("A")
    events = list(generate_school_events(plan, 300, *NOV, seed=11, school_index=4))
    ids = [e.client_event_id for e in events]
    assert len(set(ids)) == len(ids)
    assert all(i.startswith("demo-11-4-") for i in ids)
    other = generate_school_events(plan, 300, *NOV, seed=11, school_index=5)
    assert not set(ids) & {e.client_event_id for e in other}


# Temperatures


def test_temperatures_are_one_decimal_within_the_accepted_range(big: Sample) -> None:
    events = big[3]
    temps = [e.temperature for e in events]
    assert all(isinstance(t, Decimal) and t.as_tuple().exponent == -1 for t in temps)
    assert all(Decimal(28) <= t <= Decimal(43) for t in temps)
    normal = [t for t in temps if t <= Decimal("37.2")]
    assert min(normal) == Decimal("36.1") and max(normal) == Decimal("37.2")
    assert Decimal("36.5") <= sum(normal) / len(normal) <= Decimal("36.8")
    assert Counter(normal).most_common(1)[0][0] in {Decimal("36.6"), Decimal("36.7")}
    assert not [t for t in temps if Decimal("37.2") < t < Decimal("37.6")]
    assert max(temps) <= Decimal("39.5")


def test_fevers_are_rare_and_often_send_the_pupil_home(big: Sample) -> None:
    plan, _, _, events = big
    days = pair(events, plan.timezone)
    fever_days = [
        d for d in days.values() if any(e.temperature >= Decimal("37.6") for e in d.events)
    ]
    assert 0.001 <= len(fever_days) / len(days) <= 0.012
    sent_home = [d for d in fever_days if d.total and d.total < MIN_DAILY]
    assert len(sent_home) >= len(fever_days) / 3


# Absence and daily patterns


def test_absence_rates_are_believable(big: Sample) -> None:
    plan, users, dates, events = big
    days = pair(events, plan.timezone)
    user_days = users * len(dates)
    no_show = 1 - len(days) / user_days
    assert 0.035 <= no_show <= 0.08
    present = sum(1 for d in days.values() if d.total > MIN_DAILY)
    assert 0.86 <= present / user_days <= 0.94

    attended = Counter(user for user, _ in days)
    absence = [1 - attended[u] / len(dates) for u in range(users)]
    chronic = sum(1 for a in absence if a >= 0.15)
    assert 0.02 * users <= chronic <= 0.10 * users
    assert sorted(absence)[users // 2] <= 0.07  # the median pupil is rarely away


def test_daily_patterns_have_the_expected_shares(big: Sample) -> None:
    plan, _, _, events = big
    days = list(pair(events, plan.timezone).values())
    n = len(days)
    late = sum(1 for d in days if local(d.events[0], plan.timezone).time() >= time(8, 30))
    lunch = sum(1 for d in days if len(d.events) >= 3)
    unclosed = sum(1 for d in days if d.open_at_end)
    half = sum(
        1
        for d in days
        if not d.open_at_end
        and d.total < MIN_DAILY
        and local(d.events[-1], plan.timezone).time() < time(12)
        and all(e.temperature < Decimal("37.6") for e in d.events)
    )
    assert 0.035 <= late / n <= 0.07
    assert 0.12 <= lunch / n <= 0.18
    assert 0.01 <= unclosed / n <= 0.03
    assert 0.004 <= half / n <= 0.02


def test_lunch_breaks_are_around_noon(big: Sample) -> None:
    plan, _, _, events = big
    for day in pair(events, plan.timezone).values():
        if len(day.events) >= 3:
            out, back = (local(e, plan.timezone).time() for e in day.events[1:3])
            assert time(11, 45) <= out <= time(12, 15) < back <= time(13, 5)


def test_an_open_campus_school_goes_out_for_lunch() -> None:
    # lunch_rate=1.0 is the benchmark's month: about 160,000 events for 2,000 pupils.
    plan = SchoolPlan("Open Campus", "Europe/Berlin")
    start, end = date(2026, 10, 5), date(2026, 10, 16)
    events = list(generate_school_events(plan, 300, start, end, seed=7, lunch_rate=1.0))
    days = list(pair(events, plan.timezone).values())
    on_time = [d for d in days if local(d.events[0], plan.timezone).time() < time(8, 30)]
    lunch = sum(1 for d in on_time if len(d.events) >= 3)
    assert lunch / len(on_time) >= 0.95  # all but those sent home or leaving early
    per_pupil_day = len(events) / (300 * len(school_days(start, end, plan)))
    assert 3.5 <= per_pupil_day <= 3.9
    for day in days:  # still alternating: never a check-out before its check-in
        assert [e.type for e in day.events][::2] == ["checkin"] * ((len(day.events) + 1) // 2)


# Timezones


def check_local_windows(events: list[GeneratedEvent], tz: str) -> None:
    """Arrivals in the morning windows, everything within school hours."""
    days = pair(events, tz)
    assert days
    for day in days.values():
        first = local(day.events[0], tz).time()
        on_time = time(7, 30) <= first <= time(8, 15)
        assert on_time or time(8, 30) <= first <= time(10, 30)
        last = local(day.events[-1], tz).time()
        assert last <= time(16, 30)
        normal_leave = day.events[-1].type == "checkout" and last >= time(14, 30)
        if normal_leave:
            assert day.total > MIN_DAILY


def test_ho_chi_minh_local_hours() -> None:
    plan = SchoolPlan("A", "Asia/Ho_Chi_Minh")
    events = list(generate_school_events(plan, 300, *NOV, seed=4))
    check_local_windows(events, plan.timezone)
    earliest = min(e.timestamp.time() for e in events)
    assert time(0, 30) <= earliest < time(1, 15)  # 07:30 local is 00:30 UTC


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ((date(2026, 3, 2), date(2026, 3, 6)), (date(2026, 3, 9), date(2026, 3, 13))),
        (
            (date(2026, 10, 26), date(2026, 10, 30)),
            (date(2026, 11, 2), date(2026, 11, 6)),
        ),
    ],
    ids=["spring-forward", "fall-back"],
)
def test_new_york_local_hours_across_dst(
    before: tuple[date, date], after: tuple[date, date]
) -> None:
    plan = SchoolPlan("A", "America/New_York")
    weeks = []
    for span in (before, after):
        events = list(generate_school_events(plan, 300, *span, seed=8))
        check_local_windows(events, plan.timezone)
        weeks.append(events)
    offsets = [{local(e, plan.timezone).utcoffset() for e in w} for w in weeks]
    assert len(offsets[0]) == len(offsets[1]) == 1
    assert offsets[0] != offsets[1]
    shift = abs(next(iter(offsets[0])) - next(iter(offsets[1])))  # type: ignore[operator]
    assert shift == timedelta(hours=1)
    earliest_utc = [min(e.timestamp.time() for e in w) for w in weeks]
    assert earliest_utc[0] != earliest_utc[1]


# The `now` cut-off


def test_now_cuts_off_the_future() -> None:
    plan = SchoolPlan("A", "America/New_York")
    full = list(generate_school_events(plan, 200, *NOV, seed=6))
    now = datetime(2026, 11, 18, 10, 0, tzinfo=ZoneInfo(plan.timezone))  # Wednesday
    cut = list(generate_school_events(plan, 200, *NOV, seed=6, now=now))
    assert cut == [e for e in full if e.timestamp <= now]
    assert max(local(e, plan.timezone).date() for e in cut) == now.date()
    today = {key: day for (key, d), day in pair(cut, plan.timezone).items() if d == now.date()}
    checked_in_now = [d for d in today.values() if d.open_at_end]
    assert len(checked_in_now) >= 150  # most arrived and nobody has left for good yet
    assert all(d.events[-1].timestamp <= now for d in today.values())


def test_now_before_school_opens_gives_nothing_today() -> None:
    plan = SchoolPlan("A", "Asia/Ho_Chi_Minh")
    now = datetime(2026, 11, 2, 23, 30, tzinfo=UTC)  # 06:30 on Tuesday 3rd, local
    events = list(generate_school_events(plan, 100, *NOV, seed=6, now=now))
    dates = {local(e, plan.timezone).date() for e in events}
    assert dates == {date(2026, 11, 2)}
    full_monday = list(generate_school_events(plan, 100, NOV[0], NOV[0], seed=6))
    assert events == full_monday


def test_now_in_the_past_of_the_range_and_naive_now() -> None:
    plan = SchoolPlan("A")
    now = datetime(2026, 10, 1, tzinfo=UTC)
    assert list(generate_school_events(plan, 10, *NOV, seed=1, now=now)) == []
    with pytest.raises(ValueError, match="aware"):
        list(generate_school_events(plan, 10, *NOV, seed=1, now=datetime(2026, 11, 5)))


# Schools and names


def test_school_plans() -> None:
    zones = ["Asia/Ho_Chi_Minh", "America/New_York", "UTC"]
    plans = school_plans(7, zones, seed=1)
    assert [p.timezone for p in plans] == zones * 2 + zones[:1]
    assert len({p.name for p in plans}) == 7
    assert all(len(p.name.split()) >= 2 for p in plans)
    assert plans == school_plans(7, zones, seed=1)
    assert school_plans(3, zones, seed=1) == plans[:3]
    assert [p.name for p in school_plans(7, zones, seed=2)] != [p.name for p in plans]
    for plan in plans:
        in_2026 = {d for d in plan.closures if d.year == 2026}
        assert date(2026, 12, 25) in in_2026
        assert 12 <= len(in_2026) <= 15
        assert {d.month for d in in_2026} == set(range(1, 13))
    assert school_plans(2, [], seed=1)[0].timezone == "UTC"
    assert len({p.name for p in school_plans(400, zones, seed=1)}) == 400
    with pytest.raises(Exception, match="Nowhere"):
        school_plans(1, ["Nowhere/Atlantis"], seed=1)


def test_closures_from_school_plans_silence_those_days() -> None:
    plan = school_plans(1, ["UTC"], seed=3)[0]
    start, end = date(2026, 11, 1), date(2026, 11, 30)
    closed = {d for d in plan.closures if start <= d <= end}
    assert closed
    events = generate_school_events(plan, 50, start, end, seed=3)
    assert not closed & {e.timestamp.date() for e in events}


def test_user_names() -> None:
    names = user_names(500, seed=1, school_index=0)
    assert names == user_names(500, seed=1, school_index=0)
    assert names[:100] == user_names(100, seed=1, school_index=0)
    assert names != user_names(500, seed=1, school_index=1)
    assert len(set(names)) == 500
    assert all(len(n.split()) >= 2 and n.istitle() for n in names if "-" not in n)
    many = user_names(15_000, seed=2, school_index=0)  # more than first x last
    assert len(set(many)) == 15_000
    with pytest.raises(ValueError):
        user_names(-1, seed=1, school_index=0)


# Sizes and speed


def test_count_estimate_is_close(big: Sample) -> None:
    _, users, dates, events = big
    assert abs(count_estimate(users, len(dates)) - len(events)) <= 0.1 * len(events)
    assert count_estimate(0, 20) == 0


def test_a_month_for_2000_users_is_fast() -> None:
    plan = SchoolPlan("A", "Asia/Ho_Chi_Minh")
    started = clock.perf_counter()
    n = sum(1 for _ in generate_school_events(plan, 2000, *NOV, seed=1))
    elapsed = clock.perf_counter() - started
    assert n > 80_000
    assert elapsed < 10  # about 1 s on a slow machine; generous for CI
