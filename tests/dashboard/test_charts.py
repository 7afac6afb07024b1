"""Chart builders and result readers are pure functions: figures in, figures out."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import plotly.graph_objects as go

from attendance.dashboard import charts, export, figures, life_charts
from attendance.dashboard.assets import chart_json
from attendance.dashboard.params import Range, parse_range
from attendance.presence import DayFacts, DayResult

DAYS = [
    {"date": "2026-11-20", "school_day": True, "present": 8, "absent": 2},
    {"date": "2026-11-21", "school_day": False, "present": 0, "absent": 10},
    {"date": "2026-11-23", "school_day": True, "present": 7, "absent": 3},
]
WEEKS = [
    {"start": "2026-11-16", "end": "2026-11-22", "counted_days": 5, "present": 9, "absent": 1},
    {"start": "2026-11-30", "end": "2026-11-30", "counted_days": 0, "present": None,
     "absent": None},
]  # fmt: skip


def traces(fig: go.Figure) -> dict[str, go.Bar]:
    return {t.name: t for t in fig.data}


def test_presence_bars_stack_present_and_absent_and_set_days_off_apart():
    fig = charts.presence_bars(DAYS, "day")
    assert isinstance(fig, go.Figure) and fig.layout.barmode == "stack"
    bars = traces(fig)
    assert list(bars["Present"].y) == [8, 0, 7]
    assert list(bars["Absent"].y) == [2, None, 3]
    assert list(bars["No school (not counted)"].y) == [None, 10, None]
    assert list(bars["Present"].x) == ["Fri 20 Nov", "Sat 21 Nov", "Mon 23 Nov"]
    # Told apart without colour: the numbers are printed and absence is hatched.
    assert list(bars["Present"].text) == ["8", "0", "7"]
    assert bars["Absent"].marker.pattern.shape == "/"


def test_presence_bars_by_week_leave_periods_without_figures_empty():
    bars = traces(charts.presence_bars(WEEKS, "week"))
    assert list(bars["Present"].y) == [9, None]
    assert list(bars["Present"].x) == ["16–22 Nov", "30 Nov"]


def test_rate_line_and_threshold():
    fig = charts.rate_line(DAYS, "day", Decimal("0.8"))
    lines = traces(fig)
    assert list(lines["Attendance rate"].y) == [80.0, None, 70.0]
    assert set(lines["80% threshold"].y) == {80.0}
    assert charts.rates(WEEKS, "week") == [90.0, None]


def test_arrival_histogram_counts_quarter_hours_and_fills_gaps():
    fig = charts.arrival_histogram([7 * 60 + 31, 7 * 60 + 44, 8 * 60 + 20])
    bar = fig.data[0]
    assert list(bar.x) == ["07:30", "07:45", "08:00", "08:15"]
    assert list(bar.y) == [2, 0, 0, 1]


def test_temperature_histogram_marks_the_threshold():
    fig = charts.temperature_histogram(
        [(Decimal("36.6"), 5), (Decimal("36.65"), 1), (Decimal("37.5"), 2), (Decimal("38.0"), 1)],
        Decimal("37.5"),
    )
    bars = traces(fig)
    normal, fever = bars["Normal"], bars["Fever (≥ 37.5 °C)"]
    assert list(normal.y) == [6] and list(fever.y) == [2, 1]
    assert list(fever.text) == ["2", "1"]  # printed: a handful beside hundreds
    assert fever.marker.pattern.shape == "x"
    assert fig.layout.shapes[0].x0 == 37.5
    assert "37.5" in fig.layout.annotations[0].text


def test_empty_inputs_say_so():
    for fig in (
        charts.arrival_histogram([]),
        charts.temperature_histogram([], Decimal("37.5")),
        life_charts.calendar_heatmap({}),
        charts.daily_hours([], Decimal(4)),
        charts.temperature_timeline([], Decimal("37.5")),
    ):
        assert fig.layout.annotations[0].text == "No data in this range"


def test_calendar_heatmap_has_letters_not_only_colours():
    note = figures.MarkNote("absent", True, "Sick note", "head@example.org")
    fig = life_charts.calendar_heatmap(
        {
            dt.date(2026, 11, 23): figures.CalendarDay("present", late=True),
            dt.date(2026, 11, 24): figures.CalendarDay("absent", auto_closed=True),
            dt.date(2026, 11, 25): figures.CalendarDay("excused", mark=note),
            dt.date(2026, 11, 26): figures.CalendarDay("not_enrolled"),
            dt.date(2026, 11, 28): figures.CalendarDay("off"),
            dt.date(2026, 11, 30): figures.CalendarDay("future"),
            dt.date(2026, 12, 1): figures.CalendarDay("excused", mark=note),  # planned
        }
    )
    heat = fig.data[0]
    assert list(heat.x) == ["23 Nov", "30 Nov"]
    assert [list(heat.z[i]) for i in (0, 1, 2, 3, 5)] == [
        [3, None],
        [1, 2],
        [2, None],
        [0, None],
        [0, None],
    ]
    assert heat.text[0][0] == "23<br>PL" and heat.text[1][0] == "24<br>A!"
    assert heat.text[2][0] == "25<br>E*" and heat.text[1][1] == "1<br>E*"
    assert heat.text[5][0] == "28<br>–" and heat.text[0][1] == "30"
    # The hover says it in words, with the mark's reason and who made it.
    assert heat.customdata[2][0] == (
        "Wed 25 Nov 2026: Absent, excused<br>marked absent, excused by head@example.org: Sick note"
    )
    assert "arrived late" in heat.customdata[0][0]
    assert "no check-out" in heat.customdata[1][0]
    assert "Not enrolled" in heat.customdata[3][0]


def test_late_arrivals_per_bucket_from_the_days_facts():
    def facts(day: dt.date, late: set[int] | None) -> DayFacts:
        enrolled = frozenset({1, 2, 3})
        return DayFacts(day, enrolled, enrolled, frozenset(), late and frozenset(late), {})

    mon, tue, next_mon = dt.date(2026, 11, 23), dt.date(2026, 11, 24), dt.date(2026, 11, 30)
    days = {mon: facts(mon, {1, 2}), tue: facts(tue, {1, 3}), next_mon: facts(next_mon, {2})}
    counted = {1, 2}  # 3 is not counted (another group)
    by_day = [{"date": str(d), "school_day": True} for d in (mon, tue, next_mon)]
    assert figures.late_per_bucket(by_day, days, counted) == [2, 1, 1]
    by_week = [
        {"start": "2026-11-23", "end": "2026-11-29", "counted_days": 5},
        {"start": "2026-11-30", "end": "2026-11-30", "counted_days": 1},
    ]
    assert figures.late_per_bucket(by_week, days, counted) == [3, 1]
    fig = life_charts.late_arrivals(by_week, "week", [3, 1])
    assert list(fig.data[0].y) == [3, 1] and list(fig.data[0].x) == ["23–29 Nov", "30 Nov"]
    quiet = life_charts.late_arrivals(by_week, "week", [0, 0])
    assert quiet.layout.annotations[0].text == "No late arrival in this range"
    # A school without late_after has no late facts: nothing is counted.
    assert figures.late_per_bucket(by_day, {mon: facts(mon, None)}, counted) == [0, 0, 0]


def test_auto_closed_lists_the_counted_users_by_date():
    mon, tue = dt.date(2026, 11, 23), dt.date(2026, 11, 24)
    enrolled = frozenset({1, 2, 3})
    days = {
        mon: DayFacts(mon, enrolled, frozenset(), frozenset(), None, {}, frozenset(),
                      frozenset({3, 1})),
        tue: DayFacts(tue, enrolled, frozenset(), frozenset(), None, {}, frozenset(),
                      frozenset({2})),
    }  # fmt: skip
    assert figures.auto_closed(days, {1, 3}) == {mon: [1, 3]}


def test_user_charts():
    hours = charts.daily_hours([(dt.date(2026, 11, 23), 4.5)], Decimal(4))
    assert list(hours.data[0].y) == [4.5] and list(hours.data[1].y) == [4.0]
    assert hours.data[1].name == "More than 4 h: present"
    timeline = charts.temperature_timeline(
        [
            (dt.datetime(2026, 11, 23, 8), Decimal("36.6")),
            (dt.datetime(2026, 11, 23, 9), Decimal("38")),
        ],
        Decimal("37.5"),
    )
    assert [t.name for t in timeline.data] == ["Reading", "Fever (≥ 37.5 °C)"]
    assert timeline.data[1].marker.symbol == "triangle-up"


def test_chart_json_cannot_close_its_script_block():
    fig = charts.presence_bars(
        [{"date": "2026-11-20", "school_day": True, "present": 1, "absent": 0}], "day"
    )
    fig.update_layout(title_text="</script><script>alert(1)</script>")
    text = str(chart_json(fig))
    assert "</script>" not in text and "<" not in text
    assert json.loads(text)["layout"]["title"]["text"].startswith("</script>")


RESULT = {
    "enrolled": 2,
    "presences": 1,
    "absences": 1,
    "buckets": [{"date": "2026-11-23", "school_day": True, "present": 1, "absent": 1}],
    "per_user": {
        "1": {"present_days": 1, "counted_days": 1, "present": True, "seconds": 16200.0},
        "2": {"present_days": 0, "counted_days": 1, "present": False, "seconds": 0.0},
    },
    "quality": [
        {"date": "2026-11-22", "orphan_checkouts": 0, "unclosed": 0},
        {"date": "2026-11-23", "orphan_checkouts": 2, "unclosed": 1},
    ],
    "in_school_now": 1,
}


def day(user_id: int, present: bool, first: dt.datetime | None) -> DayResult:
    return DayResult(user_id, dt.date(2026, 11, 23), dt.timedelta(hours=5), present, False,
                     0, 0, (), first)  # fmt: skip


def test_today_figures_read_the_report():
    today = figures.today_figures(RESULT, fever_alerts=3)
    assert today == figures.Today(
        enrolled=2, in_school=1, present=1, absent=1, rate=50.0, fever_alerts=3, school_day=True
    )


def test_data_quality_and_arrivals():
    assert figures.data_quality(RESULT) == [figures.Quality(dt.date(2026, 11, 23), 2, 1)]
    days = {
        dt.date(2026, 11, 23): {
            1: day(1, True, dt.datetime(2026, 11, 23, 0, 30, tzinfo=dt.UTC)),
            2: day(2, False, None),
            9: day(9, True, dt.datetime(2026, 11, 23, 1, tzinfo=dt.UTC)),  # not counted
        }
    }
    # 00:30 UTC is 07:30 in Ho Chi Minh City.
    counted = figures.enrolled_ids(RESULT)
    assert figures.arrival_minutes(days, counted, "Asia/Ho_Chi_Minh") == [7 * 60 + 30]


def test_user_figures_and_calendar():
    assert figures.user_figures(RESULT, 1) == figures.UserFigures(1, 1, 100.0, True, 4.5)
    assert figures.user_figures(RESULT, 3) is None
    school_days = {
        dt.date(2026, 11, 20): True,
        dt.date(2026, 11, 21): False,
        dt.date(2026, 11, 22): False,
        dt.date(2026, 11, 23): True,
        dt.date(2026, 11, 24): True,
        dt.date(2026, 11, 25): True,
        dt.date(2026, 11, 26): True,
    }
    everyone = frozenset({1, 2})

    def facts(d: int, present=(), excused=(), late=None, auto=(), enrolled=everyone):
        day = dt.date(2026, 11, d)
        return day, DayFacts(day, enrolled, frozenset(present), frozenset(excused),
                             None if late is None else frozenset(late), {}, frozenset(),
                             frozenset(auto))  # fmt: skip

    stored = dict(
        [
            facts(20, enrolled=frozenset({2})),  # not enrolled yet
            facts(21, present={1}),  # came on a day off
            facts(22),
            facts(23, present={1}, late={1}),
            facts(24, excused={1}, late=set(), auto={1}),
            facts(26, excused={1}),
        ]
    )
    note = figures.MarkNote("absent", True, "Trip", "admin")
    marks = {dt.date(2026, 11, 24): note, dt.date(2026, 11, 26): note}
    got = figures.calendar_days(stored, 1, school_days, dt.date(2026, 11, 25), marks)
    assert {d.day: c.status for d, c in got.items()} == {
        20: "not_enrolled",
        21: "present",
        22: "off",
        23: "present",
        24: "excused",
        25: "not_enrolled",  # no facts for the date: not counted
        26: "excused",  # a planned absence after today
    }
    assert [d.day for d, c in got.items() if c.late] == [23]
    assert [d.day for d, c in got.items() if c.auto_closed] == [24]
    assert got[dt.date(2026, 11, 24)].mark == note
    # Without a mark, a date after today is only "not yet".
    future = figures.calendar_days(stored, 1, school_days, dt.date(2026, 11, 25))
    assert future[dt.date(2026, 11, 26)].status == "future"


def test_csv_rows_are_the_buckets_then_the_total():
    rng = Range(dt.date(2026, 11, 16), dt.date(2026, 11, 30), "week")
    result = {"enrolled": 10, "presences": 9, "absences": 1, "buckets": WEEKS}
    lines = export.report_csv(result, rng).splitlines()
    assert lines == [
        "period,start,end,school_day,counted_days,enrolled,present,absent,rate_percent",
        "week,2026-11-16,2026-11-22,,5,10,9,1,90.0",
        "week,2026-11-30,2026-11-30,,0,10,,,",
        "total,2026-11-16,2026-11-30,,,10,9,1,90.0",
    ]


def test_parse_range_defaults_and_repairs():
    today = dt.date(2026, 11, 28)
    assert parse_range({}, today) == (Range(dt.date(2026, 11, 1), today, "day"), [])
    rng, notes = parse_range({"from": "2026-11-20", "to": "2026-11-10"}, today)
    assert (rng.start, rng.end) == (dt.date(2026, 11, 10), dt.date(2026, 11, 20)) and notes
    rng, notes = parse_range({"from": "2024-01-01", "granularity": "month"}, today)
    assert rng.days == 366 and rng.granularity == "month" and notes
