"""Closing a school's day: streaks, chronic absence and the day's figures, decided once."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

from sqlalchemy import func, select

from attendance.jobs.webhooks import tick
from attendance.models import Attendance
from attendance.webhook_models import DayClose, WebhookDelivery

from ..receiver import running_receiver, verify

DAY_EVENTS = ["pupil.absence_streak", "pupil.chronic", "school.day_closed"]


def attend(db, user, day: dt.date) -> None:
    """A present day: in at 08:00, out at 13:00 (UTC school)."""
    for hour, kind in ((8, "checkin"), (13, "checkout")):
        db.session.add(
            Attendance(
                user_id=user.id,
                school_id=user.school_id,
                type=kind,
                timestamp=dt.datetime.combine(day, dt.time(hour), dt.UTC),
                temperature=Decimal("36.6"),
            )
        )
    db.session.commit()


def run_ticks(app, clock, times: int = 3) -> None:
    """Ticks a few seconds apart (a close waits for its reports between two)."""
    for _ in range(times):
        with app.app_context():
            tick()
        clock.advance(3)


def sent(db) -> list[tuple[str, dict]]:
    rows = db.session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.created_at)).all()
    return sorted(
        ((r.event_type, json.loads(r.body)["data"]) for r in rows),
        key=lambda r: (r[0], r[1].get("date", "")),
    )


def test_a_closed_day_tells_streaks_chronic_and_figures_once(
    app, db, make_school, make_user, subscribe, frozen
):
    school = make_school(year_start="11-23", chronic_min_days=3, chronic_ratio=Decimal(1))
    absent = make_user(school=school, name="Absent", external_id="A1", group="5B")
    present = make_user(school=school, name="Present")
    for day in (23, 24, 25):
        attend(db, present, dt.date(2026, 11, day))
    clock = frozen(
        dt.datetime(2026, 11, 26, 0, 0, 1, tzinfo=dt.UTC)
    )  # Wednesday closed at midnight
    with running_receiver() as receiver:
        hook = subscribe(receiver.url, DAY_EVENTS, school.id)
        run_ticks(app, clock)
        got = receiver.wait_for(3)
        for r in got:
            verify(hook["secret"], r.headers, r.body, tolerance=None)
    events = sent(db)
    assert [e[0] for e in events] == DAY_EVENTS
    streak, chronic, closed = (e[1] for e in events)
    assert streak == {
        "school_id": school.id,
        "date": "2026-11-25",
        "user_id": absent.id,
        "name": "Absent",
        "external_id": "A1",
        "group": "5B",
        "absence_streak": 3,
    }
    assert (
        chronic["user_id"],
        chronic["from"],
        chronic["counted_days"],
        chronic["absent_days"],
    ) == (
        absent.id,
        "2026-11-23",
        3,
        3,
    )
    assert closed["date"] == "2026-11-25"
    assert {k: closed["bucket"][k] for k in ("date", "enrolled", "present", "absent")} == {
        "date": "2026-11-25",
        "enrolled": 2,
        "present": 1,
        "absent": 1,
    }
    assert len(got) == 3
    # Ticking on changes nothing: the date is closed once.
    run_ticks(app, clock)
    assert db.session.scalar(select(func.count()).select_from(WebhookDelivery)) == 3
    [close] = db.session.scalars(select(DayClose)).all()
    assert (close.date, close.status, close.events) == (dt.date(2026, 11, 25), "done", 3)


def test_workers_down_for_days_catch_up_every_missed_date(
    app, db, make_school, make_user, subscribe, frozen
):
    school = make_school()
    make_user(school=school, enrolled_from=dt.date(2026, 11, 23))  # absent every day
    clock = frozen(dt.datetime(2026, 11, 24, 0, 0, 1, tzinfo=dt.UTC))
    with running_receiver() as receiver:
        subscribe(receiver.url, ["pupil.absence_streak", "school.day_closed"], school.id)
        run_ticks(app, clock)  # Monday 23rd closed
        clock.at = dt.datetime(2026, 12, 1, 0, 0, 1, tzinfo=dt.UTC)  # a week later
        run_ticks(app, clock, times=6)
    closes = db.session.execute(
        select(DayClose.date, DayClose.status, DayClose.events).order_by(DayClose.date)
    ).all()
    assert [c.date.day for c in closes] == [23, 24, 25, 26, 27, 28, 29, 30]
    assert {c.status for c in closes} == {"done"}
    assert [c.events for c in closes] == [1, 1, 2, 1, 1, 0, 0, 1]  # weekends: nothing to close
    streaks = [e for e in sent(db) if e[0] == "pupil.absence_streak"]
    assert [s[1]["date"] for s in streaks] == ["2026-11-25"]  # reaching 3 is news, 4 and 5 are not


def test_a_school_with_day_end_closes_at_day_end(
    app, db, make_school, make_user, subscribe, frozen
):
    school = make_school(day_end=dt.time(16, 0), timezone="Europe/Paris")
    make_user(school=school)
    clock = frozen(dt.datetime(2026, 11, 25, 14, 59, 59, tzinfo=dt.UTC))  # 15:59:59 in Paris
    subscribe("http://127.0.0.1:9/x", ["school.day_closed"], school.id)
    run_ticks(app, clock, times=1)
    assert [c.day for c in db.session.scalars(select(DayClose.date))] == [24]
    clock.at = dt.datetime(2026, 11, 25, 15, 0, tzinfo=dt.UTC)  # 16:00 in Paris
    run_ticks(app, clock)
    assert sorted(c.day for c in db.session.scalars(select(DayClose.date))) == [24, 25]


def test_schools_nobody_subscribed_to_are_not_closed(app, db, make_school, subscribe, frozen):
    watched, ignored = make_school(), make_school(name="Ignored")
    clock = frozen(dt.datetime(2026, 11, 26, 0, 0, 1, tzinfo=dt.UTC))
    subscribe("http://127.0.0.1:9/x", ["attendance.fever"], ignored.id)  # no day events
    subscribe("http://127.0.0.1:9/x", ["school.day_closed"], watched.id)
    run_ticks(app, clock, times=1)
    assert list(db.session.scalars(select(DayClose.school_id))) == [watched.id]
