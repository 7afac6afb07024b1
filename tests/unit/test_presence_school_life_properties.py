"""Property tests of school life (marks, enrolments, day_end, late_after, per-user figures):
attendance.presence against the naive oracle, on the scenarios of the other property tests."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import event, given, settings
from hypothesis import strategies as st

from attendance import presence as p
from tests.unit import oracle
from tests.unit import presence_helpers as helpers
from tests.unit.presence_helpers import life_report_dict, report_dict
from tests.unit.test_presence_properties import ORACLE_SETTINGS, ZONES, scenarios, transitions

LIFE_SETTINGS = settings(ORACLE_SETTINGS, max_examples=250)


def walls_near_changes(tz: str, days: list[date]) -> list[time]:
    """Whole-minute wall times around each clock change on days: inside the repeated or
    skipped hour, and on either side of it."""
    z = ZoneInfo(tz)
    walls = []
    for change in transitions(tz):
        before = (change - timedelta(microseconds=1)).astimezone(z)
        after = change.astimezone(z)
        if before.date() in days or after.date() in days:
            for local in (before, after):
                for minutes in (-61, -30, -1, 0, 1, 15, 30, 59, 60, 61, 90):
                    wall = (
                        local.replace(second=0, microsecond=0) + timedelta(minutes=minutes)
                    ).time()
                    walls.append(wall)
    return walls


@st.composite
def life_scenarios(draw: st.DrawFn) -> dict[str, Any]:
    """A scenario of the other property tests, with enrolments, a mark history, day_end,
    late_after and the chronic thresholds."""
    sc = draw(scenarios())
    rules: p.Rules = sc["rules"]
    # Longer ranges than the other scenarios' (per-user figures need several counted days),
    # often the whole window.
    window: list[date] = sc["window"]
    window = window + [window[-1] + timedelta(days=k + 1) for k in range(draw(st.integers(0, 9)))]
    start = draw(st.sampled_from(window))
    end = draw(st.sampled_from([d for d in window if d >= start]))
    if draw(st.booleans()):
        start, end = window[0], window[-1]
    around = [window[0] - timedelta(days=1), *window, window[-1] + timedelta(days=1)]
    near = walls_near_changes(rules.timezone, around)

    # More events on the window's dates, on a quarter-hour grid of local wall time.
    z = ZoneInfo(rules.timezone)
    users = sorted({e.user_id for e in sc["events"]} | set(sc["enrolled"])) or [1]
    extra = draw(
        st.lists(
            st.tuples(
                st.sampled_from(users),
                st.sampled_from(window),
                st.sampled_from([p.CHECKIN, p.CHECKOUT]),
                st.integers(0, 95),
            ),
            max_size=20,
        )
    )
    events = sc["events"] + [
        p.Event(20_000 + i, u, kind, datetime.combine(d, time(q // 4, q % 4 * 15), tzinfo=z))
        for i, (u, d, kind, q) in enumerate(extra)
    ]
    # Whole school days (07:00 to 16:30), so that users are often present by time.
    full = draw(st.lists(st.tuples(st.sampled_from(users), st.sampled_from(window)), max_size=25))
    for i, (u, d) in enumerate(full):
        events.append(p.Event(30_000 + 2 * i, u, p.CHECKIN, datetime.combine(d, time(7), z)))
        events.append(p.Event(30_001 + 2 * i, u, p.CHECKOUT, datetime.combine(d, time(16, 30), z)))
    # The wall time of each user's first check-in of each date (it always opens a session):
    # drawn as day_end or late_after, a session then opens exactly at it.
    first: dict[tuple[int, date], datetime] = {}
    for e in events:
        if e.type == p.CHECKIN:
            local = e.timestamp.astimezone(z)
            key = (e.user_id, local.date())
            first[key] = min(first.get(key, local), local)
    exact = sorted({t.time().replace(second=0, microsecond=0) for t in first.values()})
    kinds = ["off", "grid", "any"] + ["near"] * 2 * bool(near) + ["event"] * 2 * bool(exact)

    def wall() -> time | None:
        kind = draw(st.sampled_from(kinds))
        if kind == "off":
            return None
        if kind == "event":
            return draw(st.sampled_from(exact))
        if kind == "grid":  # on the events' grid: sessions open exactly at it
            return time(draw(st.integers(0, 23)), draw(st.sampled_from([0, 15, 30, 45])))
        if kind == "near":
            return draw(st.sampled_from(near))
        return time(draw(st.integers(0, 23)), draw(st.integers(0, 59)))

    span_end = st.one_of(st.none(), st.sampled_from(around))
    # open ends, gaps, moves away and back, spans that cover no date, no span at all
    spans = st.lists(st.tuples(span_end, span_end), max_size=3)
    enrolments: dict[int, list[p.Span]] | None = None
    if draw(st.integers(0, 3)):
        enrolments = {}
        for u in users:
            if draw(st.integers(0, 3)):
                enrolments[u] = draw(spans)

    # Marks recorded at a few instants, so that ties fall to the sequence; dressed in
    # other offsets, so that only the instant may order them.
    moments = [datetime(2020, 1, 1, tzinfo=UTC) + timedelta(hours=draw(st.integers(0, 5)))]
    moments += [moments[0] + timedelta(hours=1), moments[0] - timedelta(microseconds=1)]
    n = draw(st.integers(0, 24))
    sequences = draw(st.lists(st.integers(0, 10_000), min_size=n, max_size=n, unique=True))
    marks = []
    for sequence in sequences:
        status = draw(st.sampled_from(p.MARK_STATUSES))
        offset = timezone(timedelta(hours=draw(st.integers(-12, 14))))
        marks.append(
            p.Mark(
                user_id=draw(st.sampled_from(users)),
                day=draw(st.sampled_from(around if draw(st.booleans()) else window)),
                status=status,
                recorded_at=draw(st.sampled_from(moments)).astimezone(offset),
                sequence=sequence,
                excused=status == p.ABSENT and draw(st.booleans()),
                reason=draw(st.sampled_from(["ill", "gate reader down", "trip"])),
            )
        )
    # The other scenarios rarely have counted days (few school days, now often before the
    # window); per-user figures need many: often every day a school day and now late.
    school_days = draw(
        st.sampled_from([rules.school_days, frozenset(range(1, 8)), frozenset(range(1, 6))])
    )
    rules = dataclasses.replace(
        rules,
        school_days=school_days,
        day_end=wall(),
        late_after=wall(),
        chronic_ratio=Decimal(draw(st.integers(0, 120))) / 100,
        chronic_min_days=draw(st.integers(0, 6)),
    )
    now = sc["now"]
    when = draw(st.sampled_from(["as drawn", "after", "last day", "day_end"]))
    if when == "after":
        now = datetime.combine(window[-1] + timedelta(days=2), time(), tzinfo=z)
    elif when == "last day":  # today is the last date: before and after day_end
        wall_now = time(draw(st.integers(0, 23)), draw(st.sampled_from([0, 15, 30, 45])))
        now = datetime.combine(window[-1], wall_now, tzinfo=z)
    elif when == "day_end" and rules.day_end is not None:  # exactly at today's day_end
        hour, minute = rules.day_end.hour, rules.day_end.minute
        end_us = oracle.oracle_wall_instant_us(window[-1], hour, minute, rules.timezone)
        now = oracle.from_us(end_us)
    enrolled = sc["enrolled"] or (users if draw(st.integers(0, 4)) else [])
    return {
        **sc,
        "rules": rules,
        "window": window,
        "start": start,
        "end": end,
        "events": events,
        "now": now,
        "enrolled": enrolled,
        "enrolments": enrolments,
        "marks": marks,
        "users": users,
    }


def hm(wall: time | None) -> tuple[int, int] | None:
    return None if wall is None else (wall.hour, wall.minute)


def oracle_of(sc: dict[str, Any]) -> Any:
    rules: p.Rules = sc["rules"]
    return oracle.oracle_school_report(
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
        sc["enrolments"],
        sc["marks"],
        hm(rules.day_end),
        hm(rules.late_after),
        rules.chronic_ratio,
        rules.chronic_min_days,
    )


def session_us(s: p.Session) -> tuple[int, int | None]:
    return oracle.to_us(s.start), None if s.end is None else oracle.to_us(s.end)


@LIFE_SETTINGS
@given(life_scenarios())
def test_pairing_with_day_end_matches_the_oracle(sc: dict[str, Any]) -> None:
    rules: p.Rules = sc["rules"]
    evs = oracle.convert(sc["events"])
    now_us = oracle.to_us(sc["now"])
    rows = [(e.user_id, e.timestamp, e.id, e.type) for e in sc["events"]]
    for day in sc["window"]:
        day_end_us = None
        if rules.day_end is not None:
            day_end_us = oracle.oracle_wall_instant_us(
                day, rules.day_end.hour, rules.day_end.minute, rules.timezone
            )
        results = helpers.day_results(sc["events"], day, rules, sc["now"])
        assert p.day_table(rows[::-1], day, rules, sc["now"]) == p.DayTable.of(results)
        for user in {e.user_id for e in evs}:
            got = helpers.pair_day(user, sc["events"], day, rules, sc["now"])
            want = oracle.oracle_day(
                evs, user, day, rules.timezone, now_us, rules.min_daily_hours, day_end_us
            )
            assert got.total == timedelta(microseconds=want.total_us)
            assert (got.present, got.checked_in_now) == (want.present, want.checked_in_now)
            assert (got.unclosed, got.auto_closed) == (want.unclosed, want.auto_closed)
            assert got.orphan_checkouts == want.orphan_checkouts
            assert [session_us(s) for s in got.sessions] == want.sessions
            if user in results:
                assert results[user] == got
            assert p.DayResult.from_dict(json.loads(json.dumps(got.to_dict()))) == got


@LIFE_SETTINGS
@given(life_scenarios())
def test_school_life_report_matches_the_oracle(sc: dict[str, Any]) -> None:
    rules: p.Rules = sc["rules"]
    start, end, granularity, now = sc["start"], sc["end"], sc["granularity"], sc["now"]
    days = {d: helpers.day_results(sc["events"], d, rules, now) for d in sc["window"]}
    report = p.aggregate(
        sc["enrolled"], days, start, end, granularity, rules, now, sc["enrolments"], sc["marks"]
    )
    want, want_users, want_days = oracle_of(sc)
    assert json.loads(json.dumps(life_report_dict(report))) == want
    got_users = {u: s.to_dict(school_life=True) for u, s in report.per_user.items()}
    for summary in got_users.values():
        del summary["seconds"]
    assert got_users == want_users

    # The pipeline's path: database rows -> day_table -> stored columns -> day_facts (each
    # date on its own, with that date's marks only) -> JSON -> combine.
    rows = [(e.user_id, e.timestamp, e.id, e.type) for e in sc["events"]]
    facts = {}
    for d in oracle.all_dates(start, end):
        table = p.day_table(rows, d, rules, now)
        own_marks = [m for m in sc["marks"] if m.day == d]
        f = p.day_facts(
            d, p.DayTotals.of_table(table), sc["enrolled"], rules, now, sc["enrolments"], own_marks
        )
        facts[d] = p.DayFacts.from_dict(json.loads(json.dumps(f.to_dict())))
        life = want_days[d]
        assert f.enrolled == {u for u, x in life.items() if x.enrolled}
        assert f.present == {u for u, x in life.items() if x.enrolled and x.present}
        assert f.excused == {u for u, x in life.items() if x.enrolled and x.excused}
        if rules.late_after is None:
            assert f.late is None
        else:
            assert f.late == {u for u, x in life.items() if x.enrolled and x.late}
    assert p.combine(facts, start, end, granularity, rules, now) == report
    # What the draws reached (pytest --hypothesis-show-statistics).
    event("auto-closed", str(any(f.auto_closed for f in facts.values())))
    event("late", str(any(f.late for f in facts.values())))
    event("excused", str(any(f.excused for f in facts.values())))
    event("chronic", str(report.chronic > 0))
    event("absence streak", str(any(s.absence_streak for s in report.per_user.values())))
    event("not enrolled", str(any(f.enrolled != set(sc["enrolled"]) for f in facts.values())))
    clearing = any(m.status == p.CLEARED for m in sc["marks"])
    event("a clearing", str(clearing))

    # Every counted user is present or absent: present + absent == enrolled.
    doc = life_report_dict(report)
    for bucket in [doc, *doc["buckets"]]:
        present = bucket.get("presences", bucket.get("present"))
        absent = bucket.get("absences", bucket.get("absent"))
        assert (present is None) == (absent is None) == (bucket["enrolled"] is None)
        if present is not None:
            assert present + absent == bucket["enrolled"]
    assert doc["chronic"] == sum(bool(s.chronic) for s in report.per_user.values())
    if report.counted_users is not None and start != end:
        assert report.counted_users == sum(s.counted_days > 0 for s in report.per_user.values())


@st.composite
def attendance_grids(draw: st.DrawFn) -> dict[str, Any]:
    """Long ranges where marks alone decide each user's days: sections 4, 5 and 8 over
    many counted days, with enrolment spans cutting each user's own."""
    first = draw(st.dates(date(2024, 1, 1), date(2026, 12, 1)))
    length = draw(st.integers(1, 40))
    dates = [first + timedelta(days=i) for i in range(length)]
    users = list(range(1, draw(st.integers(1, 5)) + 1))
    ends = st.one_of(st.none(), st.sampled_from(dates))
    enrolments = {u: draw(st.lists(st.tuples(ends, ends), max_size=2)) for u in users}
    marks = [
        p.Mark(u, d, draw(st.sampled_from([p.PRESENT, p.ABSENT])), NOON, i)
        for i, (u, d) in enumerate((u, d) for u in users for d in dates)
        if draw(st.integers(0, 4))  # the others are absent by time: no events
    ]
    rules = p.Rules(
        school_days=draw(st.sampled_from([frozenset(range(1, 6)), frozenset(range(1, 8))])),
        period_ratio=draw(st.sampled_from([Decimal("0.5"), Decimal("0.8"), Decimal("0.6")])),
        chronic_ratio=Decimal(draw(st.integers(0, 100))) / 100,
        chronic_min_days=draw(st.integers(0, 15)),
    )
    last_today = dates[-1] + timedelta(days=1)
    today = draw(st.sampled_from([*dates, last_today]))
    return {
        "users": users,
        "enrolments": enrolments,
        "marks": marks,
        "rules": rules,
        "now": datetime.combine(today, time(12), UTC),
        "start": first,
        "end": dates[-1],
        "granularity": draw(st.sampled_from(p.GRANULARITIES)),
    }


NOON = datetime(2020, 1, 1, 12, tzinfo=UTC)


@LIFE_SETTINGS
@given(attendance_grids())
def test_per_user_figures_over_long_ranges_match_the_oracle(g: dict[str, Any]) -> None:
    rules: p.Rules = g["rules"]
    args = (g["start"], g["end"], g["granularity"], rules, g["now"])
    report = p.aggregate(g["users"], {}, *args, g["enrolments"], g["marks"])
    want, want_users, _ = oracle.oracle_school_report(
        [],
        g["users"],
        g["start"],
        g["end"],
        g["granularity"],
        "UTC",
        set(rules.school_days),
        set(),
        rules.min_daily_hours,
        rules.period_ratio,
        g["now"],
        g["enrolments"],
        g["marks"],
        None,
        None,
        rules.chronic_ratio,
        rules.chronic_min_days,
    )
    assert life_report_dict(report) == want
    got_users = {u: s.to_dict(school_life=True) for u, s in report.per_user.items()}
    for summary in got_users.values():
        del summary["seconds"]
    assert got_users == want_users


@LIFE_SETTINGS
@given(life_scenarios())
def test_without_school_life_inputs_the_figures_are_as_before(sc: dict[str, Any]) -> None:
    # No enrolments, marks, day_end or late_after: the figures of sections 1 to 6 as they were.
    rules = dataclasses.replace(sc["rules"], day_end=None, late_after=None)
    start, end, granularity, now = sc["start"], sc["end"], sc["granularity"], sc["now"]
    days = {d: helpers.day_results(sc["events"], d, rules, now) for d in sc["window"]}
    report = p.aggregate(sc["enrolled"], days, start, end, granularity, rules, now)
    want, _ = oracle.oracle_report(
        sc["events"],
        sc["enrolled"],
        start,
        end,
        granularity,
        rules.timezone,
        set(rules.school_days),
        set(rules.closures),
        rules.min_daily_hours,
        rules.period_ratio,
        now,
    )
    assert json.loads(json.dumps(report_dict(report))) == want
    life = p.aggregate(sc["enrolled"], days, start, end, granularity, rules, now, None, [])
    assert life == report


@settings(ORACLE_SETTINGS, max_examples=200)
@given(st.sampled_from([z for z in ZONES if transitions(z)]), st.data())
def test_day_end_on_clock_change_days_matches_the_oracle(tz: str, data: st.DataObject) -> None:
    # day_end inside or next to the hour a clock change skips or repeats, sessions opening
    # before, inside and after it, and now before, at and after day_end.
    z = ZoneInfo(tz)
    change = data.draw(st.sampled_from(transitions(tz)))
    day = (
        (change + timedelta(microseconds=data.draw(st.sampled_from([-1, 0])))).astimezone(z).date()
    )
    wall = data.draw(st.sampled_from(walls_near_changes(tz, [day])))
    rules = p.Rules(timezone=tz, day_end=wall)
    minutes = st.integers(-300, 300).map(lambda m: change + timedelta(minutes=m))
    kinds = st.sampled_from([p.CHECKIN, p.CHECKOUT])
    drafts = data.draw(st.lists(st.tuples(kinds, minutes), min_size=1, max_size=4))
    events = [p.Event(i, 1, kind, t) for i, (kind, t) in enumerate(drafts, 1)]
    day_end_us = oracle.oracle_wall_instant_us(day, wall.hour, wall.minute, tz)
    exactly = oracle.from_us(day_end_us) + timedelta(microseconds=data.draw(st.integers(-1, 1)))
    now = data.draw(st.sampled_from([data.draw(minutes), change + timedelta(days=2), exactly]))
    got = helpers.pair_day(1, events, day, rules, now)
    want = oracle.oracle_day(
        oracle.convert(events), 1, day, tz, oracle.to_us(now), rules.min_daily_hours, day_end_us
    )
    assert got.total == timedelta(microseconds=want.total_us)
    assert (got.checked_in_now, got.unclosed, got.auto_closed) == (
        want.checked_in_now,
        want.unclosed,
        want.auto_closed,
    )
    assert [session_us(s) for s in got.sessions] == want.sessions


@settings(ORACLE_SETTINGS, max_examples=150)
@given(st.sampled_from(ZONES), st.data())
def test_wall_instant_matches_a_minute_walk(tz: str, data: st.DataObject) -> None:
    # Often on the very days the clocks change, at wall times they skip or repeat.
    changes = transitions(tz)
    if changes and data.draw(st.booleans()):
        change = data.draw(st.sampled_from(changes))
        day = change.astimezone(ZoneInfo(tz)).date() + timedelta(days=data.draw(st.integers(-1, 1)))
        wall = data.draw(st.sampled_from(walls_near_changes(tz, [day]) or [time(0)]))
    else:
        day = data.draw(st.dates(date(2020, 1, 1), date(2030, 12, 31)))
        wall = time(data.draw(st.integers(0, 23)), data.draw(st.integers(0, 59)))
    got = p.wall_instant(day, wall, tz)
    assert oracle.to_us(got) == oracle.oracle_wall_instant_us(day, wall.hour, wall.minute, tz)
    assert got.tzinfo is UTC


@settings(ORACLE_SETTINGS, max_examples=300)
@given(
    st.integers(0, 60),
    st.integers(0, 60),
    st.integers(0, 100).map(lambda n: Decimal(n) / 100),
    st.integers(0, 30),
)
def test_chronically_absent_compares_exactly(a: int, b: int, ratio: Decimal, min_days: int) -> None:
    absent, counted = min(a, b), max(a, b)
    got = p.chronically_absent(absent, counted, ratio, min_days)
    if counted == 0:
        assert got is None
    else:
        assert got == oracle.chronic_by_decimal(absent, counted, ratio, min_days)


@settings(ORACLE_SETTINGS, max_examples=300)
@given(st.lists(st.booleans(), max_size=30))
def test_absence_streak_is_the_trailing_run_of_absences(flags: list[bool]) -> None:
    streak = p.absence_streak(flags)
    assert streak == len(flags) - len("".join("P" if f else "A" for f in flags).rstrip("A"))
