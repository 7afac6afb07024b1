"""`flask demo` fills an empty database for `make run`, once, in development only."""

from __future__ import annotations

from sqlalchemy import func, select

from attendance.models import Attendance, School, User


def test_demo_loads_once(runner, db):
    result = runner.invoke(args=["demo", "--schools", "2", "--users", "5", "--weeks", "2"])
    assert result.exit_code == 0, result.output
    assert "Loaded 2 demo schools, 10 pupils" in result.output
    assert db.session.scalar(select(func.count(School.id))) == 2
    assert db.session.scalar(select(func.count(User.id))) == 10
    events = db.session.scalar(select(func.count(Attendance.id)))
    assert events > 0
    again = runner.invoke(args=["demo", "--schools", "2", "--users", "5", "--weeks", "2"])
    assert "already has schools" in again.output
    assert db.session.scalar(select(func.count(Attendance.id))) == events


def test_demo_refuses_production(app, runner, monkeypatch):
    monkeypatch.setitem(app.config, "ATTENDANCE_ENV", "production")
    result = runner.invoke(args=["demo"])
    assert result.exit_code != 0 and "development only" in result.output
