"""`flask demo` (--quick) fills an empty database for `make run`, once, in development only."""

from __future__ import annotations

import datetime as dt
from collections import Counter

from sqlalchemy import func, select

from attendance.models import Attendance, Closure, DayVersion, Mark, School, User
from attendance.presence import local_date
from attendance.security import admins


def test_demo_loads_once(runner, db):
    result = runner.invoke(args=["demo", "--schools", "2", "--users", "5", "--weeks", "2"])
    assert result.exit_code == 0, result.output
    assert "Loaded 2 demo schools, 10 pupils" in result.output
    assert db.session.scalar(select(func.count(School.id))) == 2
    assert db.session.scalar(select(func.count(User.id))) == 10
    events = db.session.scalar(select(func.count(Attendance.id)))
    assert events > 0
    assert "Demo login (district admin, every school): demo@example.org / attendance-demo" in (
        result.output
    )
    assert "head@example.org" in result.output
    again = runner.invoke(args=["demo", "--schools", "2", "--users", "5", "--weeks", "2"])
    assert "already has schools" in again.output
    assert db.session.scalar(select(func.count(Attendance.id))) == events
    assert admins.authenticate("demo@example.org", "attendance-demo") is not None


def test_demo_bumps_the_version_of_every_date_it_loads(runner, db):
    """The per-day report cache knows a finished day changed only by its version: the
    events bump each date they load once, and each mark its own date once more."""
    result = runner.invoke(args=["demo", "--schools", "2", "--users", "5", "--weeks", "2"])
    assert result.exit_code == 0, result.output
    zones = {s: tz for s, tz in db.session.execute(select(School.id, School.timezone))}
    loaded = {
        (school_id, local_date(ts, zones[school_id]))
        for school_id, ts in db.session.execute(select(Attendance.school_id, Attendance.timestamp))
    }
    versions = dict(
        ((school_id, day), version)
        for school_id, day, version in db.session.execute(
            select(DayVersion.school_id, DayVersion.day, DayVersion.version)
        )
    )
    marked = Counter(tuple(r) for r in db.session.execute(select(Mark.school_id, Mark.date)))
    assert len(loaded) > 10 and marked
    assert set(versions) == loaded | set(marked)
    assert versions == {day: (day in loaded) + marked[day] for day in versions}


def test_demo_fevers_have_photos(runner, db):
    runner.invoke(args=["demo", "--schools", "1", "--users", "40", "--weeks", "4"])
    fevers = db.session.scalars(select(Attendance).where(Attendance.temperature >= 37.5)).all()
    assert fevers and all(e.image and e.image.startswith("sha256:") for e in fevers)
    normal = db.session.scalars(select(Attendance).where(Attendance.temperature < 37.5)).first()
    assert normal.image is None


def test_demo_refuses_production(app, runner, monkeypatch):
    monkeypatch.setitem(app.config, "ATTENDANCE_ENV", "production")
    result = runner.invoke(args=["demo"])
    assert result.exit_code != 0 and "development only" in result.output


def test_one_command_two_sizes_options_of_one_size_only(runner, db):
    """--quick is the default; an option of the other size is a usage error, nothing loaded."""
    for args in (
        ["demo", "--from", "2026-11-02"],
        ["demo", "--quick", "--mode", "http"],
        ["demo", "--big", "--weeks", "2"],
    ):
        result = runner.invoke(args=args)
        assert result.exit_code == 2, result.output
        assert "goes with --" in result.output
    assert db.session.scalar(select(func.count(School.id))) == 0


def test_quick_demo_has_a_saturday_school_and_closures_to_come(runner, db):
    result = runner.invoke(args=["demo", "--quick", "--users", "3", "--weeks", "1"])
    assert result.exit_code == 0, result.output
    days = dict(db.session.execute(select(School.timezone, School.school_days)).all())
    assert days["Asia/Ho_Chi_Minh"] == [1, 2, 3, 4, 5, 6]
    assert days["Europe/London"] == [1, 2, 3, 4, 5]
    latest = db.session.scalar(select(func.max(Closure.date)))
    assert latest > dt.date.today() + dt.timedelta(days=30)
