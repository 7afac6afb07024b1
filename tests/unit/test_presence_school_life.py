"""Unit tests of attendance.presence's school life: the worked examples 13-21 of
spec/presence.md (marks, enrolments, day_end, late_after, per-user figures), then edges."""

from __future__ import annotations

import itertools
import json
from collections.abc import Collection, Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal

import pytest

from attendance import presence as p
from tests.unit import presence_helpers as helpers
from tests.unit.presence_helpers import life_bucket_dict, life_report_dict, report_dict

RULES = p.Rules()  # UTC, Monday to Friday, no closures, 4 h, 0.8, no day_end/late_after
NOW = datetime(2026, 11, 27, 10, tzinfo=UTC)  # Friday
MON, TUE, WED, THU, FRI = (date(2026, 11, 23) + timedelta(days=i) for i in range(5))
SAT, SUN = date(2026, 11, 28), date(2026, 11, 29)
PREV_MON = date(2026, 11, 16)
_ids = itertools.count(1)
_seq = itertools.count(1)


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


def ci(when: str, user: int = 1) -> p.Event:
    return p.Event(next(_ids), user, p.CHECKIN, ts(when))


def co(when: str, user: int = 1) -> p.Event:
    return p.Event(next(_ids), user, p.CHECKOUT, ts(when))


def at(day: date, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute, second), tzinfo=UTC)


def morning(day: date, user: int = 1, hours: float = 4.5) -> list[p.Event]:
    """A checkin at 08:00 UTC and a checkout `hours` later."""
    start = at(day, 8)
    return [
        p.Event(next(_ids), user, p.CHECKIN, start),
        p.Event(next(_ids), user, p.CHECKOUT, start + timedelta(hours=hours)),
    ]


def mark(
    day: date,
    status: str,
    user: int = 1,
    excused: bool = False,
    reason: str = "reason",
    recorded: datetime = NOW,
) -> p.Mark:
    return p.Mark(user, day, status, recorded, next(_seq), excused, reason)


def facts(
    events: Iterable[p.Event],
    day: date,
    rules: p.Rules = RULES,
    now: datetime = NOW,
    users: Collection[int] = (1,),
    marks: Iterable[p.Mark] = (),
    enrolments: Mapping[int, Collection[p.Span]] | None = None,
) -> p.DayFacts:
    """The chunk's path: database rows -> day_table -> DayTotals -> day_facts."""
    rows = [(e.user_id, e.timestamp, e.id, e.type) for e in events]
    table = p.day_table(rows, day, rules, now)
    totals = p.DayTotals.of_table(table)
    return p.day_facts(day, totals, users, rules, now, enrolments, marks)


def report(
    events: Iterable[p.Event],
    users: Collection[int],
    start: date,
    end: date,
    granularity: str,
    rules: p.Rules = RULES,
    now: datetime = NOW,
    enrolments: Mapping[int, Collection[p.Span]] | None = None,
    marks: Iterable[p.Mark] = (),
) -> p.Report:
    days = p.day_results_range(list(events), start, end, rules, now)
    return p.aggregate(users, days, start, end, granularity, rules, now, enrolments, marks)


# --- the worked examples of school life --------------------------------------------------


def test_example_13_a_present_mark_decides_and_clearing_it_restores_the_rule() -> None:
    events = [ci("2026-11-23T08:00:00Z"), co("2026-11-23T10:00:00Z")]
    assert helpers.pair_day(1, events, MON, RULES, NOW).present is False  # 2 h by time
    given = mark(MON, p.PRESENT, reason="gate reader down", recorded=at(MON, 11))
    assert facts(events, MON, marks=[given]).present == {1}
    cleared = mark(MON, p.CLEARED, recorded=at(MON, 12))
    assert facts(events, MON, marks=[given, cleared]).present == frozenset()
    assert facts(events, MON, marks=[cleared, given]).present == frozenset()  # order of entry


def test_example_14_a_later_excused_absence_overrides_time() -> None:
    events = [ci("2026-11-24T08:00:00Z"), co("2026-11-24T14:00:00Z")]
    assert facts(events, TUE).present == {1}
    ill = mark(TUE, p.ABSENT, excused=True, reason="sent home ill", recorded=at(TUE, 15))
    f = facts(events, TUE, marks=[ill])
    assert (f.present, f.excused) == (frozenset(), {1})
    rep = report(events, [1], TUE, TUE, p.DAY, marks=[ill])
    assert life_bucket_dict(rep.buckets[0], p.DAY) == {
        "date": "2026-11-24",
        "school_day": True,
        "enrolled": 1,
        "present": 0,
        "absent": 1,
        "excused": 1,
        "late": None,
    }
    assert rep.per_user[1].excused_days == 1 and rep.per_user[1].absent_days == 1


def test_example_15_enrolment_spans_limit_counted_days() -> None:
    week = [PREV_MON + timedelta(days=i) for i in range(5)]
    events = [e for d in week[2:] for e in morning(d, user=1)]  # enrolled from Wed
    events += [e for d in week[:2] for e in morning(d, user=2)]  # enrolled until Tue
    spans: dict[int, list[p.Span]] = {1: [(week[2], None)], 2: [(None, week[1])]}
    sunday = PREV_MON + timedelta(days=6)
    rep = report(events, [1, 2], PREV_MON, sunday, p.WEEK, enrolments=spans)
    assert (rep.per_user[1].counted_days, rep.per_user[1].present_days) == (3, 3)
    assert (rep.per_user[2].counted_days, rep.per_user[2].present_days) == (2, 2)
    assert rep.per_user[1].present is True and rep.per_user[2].present is True
    assert life_bucket_dict(rep.buckets[0], p.WEEK) == {
        "start": "2026-11-16",
        "end": "2026-11-22",
        "counted_days": 5,
        "enrolled": 2,
        "present": 2,
        "absent": 0,
    }
    days = report(events, [1, 2], PREV_MON, sunday, p.DAY, enrolments=spans).buckets
    assert [b.enrolled for b in days] == [1, 1, 1, 1, 1, 1, 1]  # one of them each date
    assert [b.present for b in days] == [1, 1, 1, 1, 1, 0, 0]
    mon = facts(morning(PREV_MON, user=1), PREV_MON, users=[1, 2], enrolments=spans)
    assert (mon.enrolled, mon.present) == ({2}, frozenset())  # 1's time there is not counted


def test_example_16_archiving_today_ends_the_enrolment_yesterday() -> None:
    ended = p.end_span((None, None), FRI)
    assert ended == (None, THU)
    events = [e for d in (MON, TUE, WED, THU) for e in morning(d)] + [ci("2026-11-27T09:00Z")]
    rep = report(events, [1], MON, SUN, p.DAY, enrolments={1: [ended]})
    assert [b.enrolled for b in rep.buckets] == [1, 1, 1, 1, 0, 0, 0]
    assert [b.present for b in rep.buckets] == [1, 1, 1, 1, 0, 0, 0]  # Fri: not counted
    week = report(events, [1], MON, SUN, p.WEEK, enrolments={1: [ended]})
    assert week.per_user[1].counted_days == 4 and week.counted_users == 1
    # one that starts today or later then covers no date
    assert p.end_span((FRI, None), FRI) == (FRI, THU)
    assert not any(p.covers((FRI, THU), d) for d in (THU, FRI, SAT))


def test_example_17_day_end_closes_a_forgotten_checkout() -> None:
    rules = p.Rules(day_end=time(16))
    events = [ci("2026-11-25T08:30:00Z")]
    r = helpers.pair_day(1, events, WED, rules, NOW)
    assert r.total == timedelta(hours=7, minutes=30)
    assert (r.present, r.auto_closed, r.unclosed, r.checked_in_now) == (True, 1, 0, False)
    assert r.sessions == (p.Session(ts("2026-11-25T08:30Z"), ts("2026-11-25T16:00Z")),)
    assert facts(events, WED, rules).auto_closed == {1}
    without = helpers.pair_day(1, events, WED, RULES, NOW)  # example 6
    assert (without.present, without.unclosed, without.auto_closed) == (False, 1, 0)


def test_example_18_day_end_today_waits_for_day_end() -> None:
    rules = p.Rules(day_end=time(16))
    events = [ci("2026-11-27T09:30:00Z")]
    r = helpers.pair_day(1, events, FRI, rules, NOW)
    assert (r.checked_in_now, r.present, r.auto_closed) == (True, True, 0)
    late_now = ts("2026-11-27T17:00:00Z")
    r = helpers.pair_day(1, events, FRI, rules, late_now)
    assert r.total == timedelta(hours=6, minutes=30)
    assert (r.checked_in_now, r.present, r.auto_closed) == (False, True, 1)
    r = helpers.pair_day(1, [ci("2026-11-27T06:00:00Z")], FRI, rules, late_now)
    assert r.total == timedelta(hours=10) and r.present is True
    f = facts(events, FRI, rules, late_now)
    assert f.checked_in_now == frozenset() and f.present == {1}


def test_example_19_late_after_is_strict_and_marks_are_never_late() -> None:
    rules = p.Rules(late_after=time(8, 15))
    on_time = facts([ci("2026-11-24T08:15:00Z")], TUE, rules)
    assert on_time.late == frozenset()
    assert facts([ci("2026-11-24T08:15:01Z")], TUE, rules).late == {1}
    orphan_first = [co("2026-11-24T07:50Z"), ci("2026-11-24T08:20Z"), co("2026-11-24T13:00Z")]
    assert facts(orphan_first, TUE, rules).late == {1}
    for status in (p.ABSENT, p.PRESENT):
        marked = facts(orphan_first, TUE, rules, marks=[mark(TUE, status)])
        assert marked.late == frozenset()
    rep = report(orphan_first, [1, 2], MON, FRI, p.DAY, rules)
    assert [b.late for b in rep.buckets] == [0, 1, 0, 0, 0]
    assert rep.per_user[1].late_days == 1 and rep.per_user[2].late_days == 0
    assert report(orphan_first, [1], TUE, TUE, p.DAY).buckets[0].late is None


@pytest.mark.parametrize(
    ("counted", "absent", "chronic"),
    [(20, 2, True), (20, 1, False), (21, 2, False), (21, 3, True), (9, 5, False), (10, 1, True)],
)
def test_example_20_chronic_absence_compares_exactly(
    counted: int, absent: int, chronic: bool
) -> None:
    assert p.chronically_absent(absent, counted, Decimal("0.1"), 10) is chronic


@pytest.mark.parametrize(
    ("start", "absent_days", "chronic"),
    [
        (date(2026, 11, 2), 2, True),  # 20 counted days, 2 absent
        (date(2026, 10, 30), 2, False),  # 21 counted days, 2 absent
        (date(2026, 11, 16), 5, False),  # 9 counted days (to Thu), 5 absent: too few days
    ],
)
def test_example_20_chronic_in_a_report(start: date, absent_days: int, chronic: bool) -> None:
    end = THU if start == date(2026, 11, 16) else FRI
    counted = p.counted_days(start, end, RULES, FRI)
    events = [e for d in counted[absent_days:] for e in morning(d)]
    rep = report(events, [1], start, end, p.MONTH)
    s = rep.per_user[1]
    assert (s.absent_days, s.chronic) == (absent_days, chronic)
    assert rep.chronic == int(chronic)
    assert life_report_dict(rep)["chronic"] == int(chronic)


def test_example_21_absence_streak_counts_back_from_the_last_counted_day() -> None:
    streak = report(morning(MON) + morning(TUE), [1], MON, FRI, p.WEEK)
    assert streak.per_user[1].absence_streak == 3
    none = report([e for d in (TUE, WED, THU, FRI) for e in morning(d)], [1], MON, FRI, p.WEEK)
    assert none.per_user[1].absence_streak == 0
    assert p.absence_streak([True, True, False, False, False]) == 3
    assert p.absence_streak([False, True, True, True, True]) == 0


# --- marks -------------------------------------------------------------------------------


def test_effective_mark_is_the_latest_by_instant_then_sequence() -> None:
    plus_two = timezone(timedelta(hours=2))
    early = p.Mark(1, MON, p.ABSENT, datetime(2026, 11, 23, 13, tzinfo=plus_two), 9)  # 11:00Z
    later = p.Mark(1, MON, p.PRESENT, at(MON, 12), 1)
    assert p.effective_marks([later, early]) == {MON: {1: later}}
    tie_a = p.Mark(2, MON, p.ABSENT, at(MON, 12), 1)
    tie_b = p.Mark(2, MON, p.PRESENT, at(MON, 12), 2)
    assert p.effective_marks([tie_b, tie_a]) == {MON: {2: tie_b}}
    assert p.effective_marks([tie_a, p.Mark(2, MON, p.CLEARED, at(MON, 12), 3)]) == {}
    with pytest.raises(ValueError, match="tie"):
        p.effective_marks([tie_a, p.Mark(2, MON, p.PRESENT, at(MON, 12), 1)])
    assert p.effective_marks([tie_a, tie_a]) == {MON: {2: tie_a}}  # the same entry twice


def test_a_mark_after_clearing_is_effective_again() -> None:
    history = [
        mark(MON, p.ABSENT, recorded=at(MON, 9)),
        mark(MON, p.CLEARED, recorded=at(MON, 10)),
        mark(MON, p.PRESENT, recorded=at(MON, 11)),
    ]
    assert facts([], MON, marks=history).present == {1}


def test_planned_absence_after_today_is_counted_in_its_day_bucket() -> None:
    monday = date(2026, 11, 30)
    trip = mark(monday, p.ABSENT, excused=True, reason="school trip abroad")
    rep = report([], [1, 2], monday, monday, p.DAY, marks=[trip])
    assert life_bucket_dict(rep.buckets[0], p.DAY)["excused"] == 1
    assert (rep.presences, rep.absences, rep.counted_users) == (0, 2, 2)
    # after today a mark decides as on any date (presence.md section 6)
    rep = report([], [1], monday, monday, p.DAY, marks=[mark(monday, p.PRESENT)])
    assert rep.presences == 1


def test_marks_of_other_dates_and_users_do_not_leak() -> None:
    f = facts(morning(MON), MON, users=[1, 2], marks=[mark(TUE, p.ABSENT), mark(MON, p.ABSENT, 2)])
    assert (f.present, f.excused) == ({1}, frozenset())


def test_marks_of_users_not_enrolled_are_not_counted() -> None:
    f = facts([], MON, users=[1, 2], marks=[mark(MON, p.PRESENT, 2)], enrolments={2: []})
    assert (f.enrolled, f.present) == ({1}, frozenset())


def test_invalid_marks_are_refused() -> None:
    with pytest.raises(ValueError):
        p.Mark(1, MON, "late", NOW)
    with pytest.raises(ValueError):
        p.Mark(1, MON, p.PRESENT, NOW, excused=True)
    with pytest.raises(ValueError):
        p.Mark(1, MON, p.ABSENT, datetime(2026, 11, 23, 9))  # naive


@pytest.mark.parametrize(
    ("status", "day", "spans", "excused", "problem"),
    [
        (p.PRESENT, FRI, None, False, None),
        (p.PRESENT, SAT, None, False, "after today"),
        (p.ABSENT, SAT, None, True, None),  # a planned absence
        (p.ABSENT, MON, [(TUE, None)], False, "not enrolled"),
        (p.PRESENT, MON, [], False, "not enrolled"),
        (p.ABSENT, MON, [(None, MON)], False, None),
        (p.CLEARED, MON, [], False, None),  # clearing is always possible
        (p.PRESENT, MON, None, True, "excused"),
        ("late", MON, None, False, "must be one of"),
    ],
)
def test_mark_problem(
    status: str, day: date, spans: list[p.Span] | None, excused: bool, problem: str | None
) -> None:
    got = p.mark_problem(status, day, FRI, spans, excused)
    if problem is None:
        assert got is None
    else:
        assert got is not None and problem in got


# --- enrolments --------------------------------------------------------------------------


def test_spans_cover_inclusive_dates_and_open_ends() -> None:
    assert p.covers((MON, FRI), MON) and p.covers((MON, FRI), FRI)
    assert not p.covers((MON, FRI), SUN) and not p.covers((TUE, FRI), MON)
    assert p.covers((None, None), MON) and p.covers((None, MON), MON)
    assert not p.covers((FRI, MON), WED)  # until before from: no date
    assert p.is_enrolled(None, MON) and not p.is_enrolled([], MON)
    assert p.is_enrolled([(None, MON), (THU, None)], FRI)
    assert not p.is_enrolled([(None, MON), (THU, None)], WED)  # a gap: moved away and back


@pytest.mark.parametrize(
    ("span", "ended"),
    [
        ((None, None), (None, THU)),
        ((MON, None), (MON, THU)),
        ((MON, SUN), (MON, THU)),
        ((MON, FRI), (MON, THU)),  # covers today
        ((MON, THU), (MON, THU)),  # already over: unchanged
        ((None, TUE), (None, TUE)),
        ((SAT, None), (SAT, THU)),  # starts later: covers no date
        ((SUN, SAT), (SUN, SAT)),  # covers no date: unchanged
    ],
)
def test_end_span(span: p.Span, ended: p.Span) -> None:
    assert p.end_span(span, FRI) == ended


def test_a_move_is_two_spans_and_the_gap_is_not_counted() -> None:
    spans: dict[int, list[p.Span]] = {1: [(None, TUE), (THU, None)]}
    events = [e for d in (MON, TUE, WED, THU, FRI) for e in morning(d)]
    rep = report(events, [1], MON, FRI, p.WEEK, enrolments=spans)
    assert (rep.per_user[1].counted_days, rep.per_user[1].present_days) == (4, 4)


def test_nobody_enrolled_on_counted_days_and_no_counted_days() -> None:
    rep = report([], [1], MON, FRI, p.WEEK, enrolments={1: [(SAT, None)]})
    assert (rep.counted_users, rep.presences, rep.absences) == (0, 0, 0)
    assert life_bucket_dict(rep.buckets[0], p.WEEK)["enrolled"] == 0
    later = report([], [1], date(2026, 11, 30), date(2026, 12, 6), p.WEEK)
    assert life_report_dict(later) == {
        "from": "2026-11-30",
        "to": "2026-12-06",
        "granularity": "week",
        "enrolled": None,
        "presences": None,
        "absences": None,
        "chronic": 0,
        "buckets": [
            {
                "start": "2026-11-30",
                "end": "2026-12-06",
                "counted_days": 0,
                "enrolled": None,
                "present": None,
                "absent": None,
            }
        ],
    }
    assert report_dict(later)["enrolled"] == 1  # the shape of today's API is unchanged


def test_a_user_counted_on_no_counted_day_has_no_figures() -> None:
    rep = report(morning(SAT), [1], MON, SUN, p.WEEK, enrolments={1: [(SAT, None)]})
    s = rep.per_user[1]
    assert (s.counted_days, s.present, s.chronic, s.absence_streak) == (0, None, None, None)
    assert rep.counted_users == 0 and rep.chronic == 0


# --- day_end and late_after edges ------------------------------------------------------------


def test_a_session_opened_at_or_after_day_end_is_left_as_before() -> None:
    rules = p.Rules(day_end=time(16))
    evening = helpers.pair_day(1, [ci("2026-11-25T16:00:00Z")], WED, rules, NOW)
    assert (evening.unclosed, evening.auto_closed, evening.total) == (1, 0, timedelta(0))
    late_now = ts("2026-11-27T18:00:00Z")
    tonight = helpers.pair_day(1, [ci("2026-11-27T17:00:00Z")], FRI, rules, late_now)
    assert tonight.checked_in_now and tonight.total == timedelta(hours=1)
    just_before = helpers.pair_day(1, [ci("2026-11-25T15:59:59Z")], WED, rules, NOW)
    assert (just_before.auto_closed, just_before.total) == (1, timedelta(seconds=1))


def test_day_end_at_now_closes_and_only_the_open_session() -> None:
    rules = p.Rules(day_end=time(16))
    at_end = ts("2026-11-27T16:00:00Z")
    r = helpers.pair_day(1, [ci("2026-11-27T09:00Z")], FRI, rules, at_end)
    assert (r.auto_closed, r.checked_in_now, r.total) == (1, False, timedelta(hours=7))
    closed = [ci("2026-11-25T08:00Z"), co("2026-11-25T17:00Z"), ci("2026-11-25T18:00Z")]
    r = helpers.pair_day(1, closed, WED, rules, NOW)
    assert (r.auto_closed, r.unclosed, r.total) == (0, 1, timedelta(hours=9))


def test_day_end_on_a_dst_day_resolves_with_fold_0() -> None:
    tz = "Europe/Berlin"
    # 2026-10-25: 02:00-03:00 happens twice; fold=0 is the first time (CEST, 00:30Z).
    assert p.wall_instant(date(2026, 10, 25), time(2, 30), tz) == ts("2026-10-25T00:30Z")
    assert p.wall_instant(date(2026, 10, 25), time(2, 30, fold=1), tz) == ts("2026-10-25T00:30Z")
    # 2026-03-29: 02:30 does not exist; fold=0 reads it with the offset before (01:30Z).
    assert p.wall_instant(date(2026, 3, 29), time(2, 30), tz) == ts("2026-03-29T01:30Z")
    rules = p.Rules(timezone=tz, day_end=time(2, 30, fold=1))
    assert rules.day_end is not None and rules.day_end.fold == 0
    r = helpers.pair_day(1, [ci("2026-10-25T00:00Z")], date(2026, 10, 25), rules, NOW)
    assert (r.auto_closed, r.total) == (1, timedelta(minutes=30))


def test_late_after_in_the_schools_zone() -> None:
    rules = p.Rules(timezone="Asia/Ho_Chi_Minh", late_after=time(8, 15))
    # 08:15 local is 01:15Z
    assert facts([ci("2026-11-24T01:15:00Z")], TUE, rules).late == frozenset()
    assert facts([ci("2026-11-24T01:15:00.000001Z")], TUE, rules).late == {1}


def test_late_needs_the_first_checkins() -> None:
    rules = p.Rules(late_after=time(8))
    with pytest.raises(ValueError, match="first"):
        p.day_facts(TUE, p.DayTotals({1: 0}), [1], rules, NOW)
    assert p.day_facts(TUE, p.DayTotals({1: 0}), [1], RULES, NOW).late is None


def test_no_checkin_is_not_late_and_a_day_after_today_has_nobody_late() -> None:
    rules = p.Rules(late_after=time(8))
    assert facts([co("2026-11-24T09:00Z")], TUE, rules).late == frozenset()
    stale = helpers.pair_day(
        1, [ci("2026-11-30T09:00Z")], date(2026, 11, 30), rules, ts("2026-12-01T00:00Z")
    )
    assert p.day_facts(date(2026, 11, 30), {1: stale}, [1], rules, NOW).late == frozenset()


# --- rules, facts and combine ------------------------------------------------------------------


def test_invalid_school_life_rules_are_refused() -> None:
    with pytest.raises(ValueError):
        p.Rules(day_end=time(16, tzinfo=UTC))
    with pytest.raises(ValueError):
        p.Rules(late_after="08:15")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        p.Rules(chronic_ratio=Decimal("0.125"))
    with pytest.raises(ValueError):
        p.Rules(chronic_min_days=-1)
    with pytest.raises(ValueError):
        p.Rules(chronic_min_days=True)
    assert p.Rules(chronic_ratio=Decimal("0.100")).chronic_ratio == Decimal("0.1")
    with pytest.raises(ValueError):
        p.chronically_absent(3, 2, Decimal("0.1"), 10)
    assert p.chronically_absent(0, 0, Decimal("0.1"), 0) is None


def test_day_facts_round_trip_and_the_table_path_matches_the_results_path() -> None:
    rules = p.Rules(day_end=time(16), late_after=time(8, 15))
    events = [ci("2026-11-25T08:30Z", 1), ci("2026-11-25T07:00Z", 2), co("2026-11-25T09:00Z", 2)]
    events += [co("2026-11-25T07:00Z", 3)]
    results = helpers.day_results(events, WED, rules, NOW)
    assert p.DayTotals.of(results) == p.DayTotals.of_table(p.DayTable.of(results))
    history = [mark(WED, p.ABSENT, 2, excused=True)]
    f = p.day_facts(WED, results, [1, 2, 3, 4], rules, NOW, {4: []}, history)
    assert f == facts(events, WED, rules, users=[1, 2, 3, 4], marks=history, enrolments={4: []})
    assert (f.enrolled, f.present, f.excused, f.late) == ({1, 2, 3}, {1}, {2}, {1})
    assert f.auto_closed == {1}
    assert p.DayFacts.from_dict(json.loads(json.dumps(f.to_dict()))) == f


def test_day_facts_are_checked() -> None:
    with pytest.raises(ValueError):
        p.DayFacts(MON, frozenset({1}), frozenset({2}), frozenset(), None, {})
    with pytest.raises(ValueError):
        p.DayFacts(MON, frozenset({1}), frozenset({1}), frozenset({1}), None, {})
    with pytest.raises(ValueError):
        p.DayFacts(MON, frozenset({1}), frozenset(), frozenset(), frozenset({2}), {})


def test_combine_needs_every_date_of_the_range() -> None:
    f = p.day_facts(MON, None, [1], RULES, NOW)
    with pytest.raises(ValueError, match="every date"):
        p.combine({MON: f}, MON, TUE, p.DAY, RULES, NOW)
    with pytest.raises(ValueError, match="of 2026-11-23"):
        p.combine({TUE: f}, TUE, TUE, p.DAY, RULES, NOW)
    with pytest.raises(ValueError, match="late_after"):
        p.combine({MON: f}, MON, MON, p.DAY, p.Rules(late_after=time(8)), NOW)


def test_school_life_shapes() -> None:
    rules = p.Rules(late_after=time(8, 15))
    events = [e for d in (MON, TUE) for e in morning(d, user=1)] + morning(MON, user=2)
    history = [mark(WED, p.ABSENT, 2, excused=True)]
    rep = report(events, [1, 2], MON, WED, p.DAY, rules, marks=history)
    doc = life_report_dict(rep)
    assert doc["enrolled"] == 2 and doc["chronic"] == 0
    assert doc["buckets"][2] == {
        "date": "2026-11-25",
        "school_day": True,
        "enrolled": 2,
        "present": 0,
        "absent": 2,
        "excused": 1,
        "late": 0,
    }
    assert rep.per_user[2].to_dict(school_life=True) == {
        "user_id": 2,
        "present_days": 1,
        "counted_days": 3,
        "present": False,
        "total_us": 16_200_000_000,
        "seconds": 16200.0,
        "absent_days": 2,
        "excused_days": 1,
        "late_days": 0,
        "chronic": False,
        "absence_streak": 2,
    }
    assert set(rep.per_user[2].to_dict()) == {
        "user_id",
        "present_days",
        "counted_days",
        "present",
        "total_us",
        "seconds",
    }
