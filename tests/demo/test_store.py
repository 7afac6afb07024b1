"""The demo loader: generated schools, users and events into the database, idempotently."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from attendance.demo.generate import DemoSpec, generate_school_events
from attendance.demo.store import load_db, prepare
from attendance.models import Attendance, Closure, DayVersion, School, User

NOW = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)  # a Friday morning
SPEC = DemoSpec(
    schools=2,
    users=25,
    start=dt.date(2026, 11, 2),
    end=dt.date(2026, 11, 27),
    timezones=("Asia/Ho_Chi_Minh", "America/New_York"),
    seed=7,
)


def count(db, model):
    return db.session.scalar(select(func.count()).select_from(model))


def expected_events(spec, schools):
    return [
        (school, event)
        for school in schools
        for event in generate_school_events(
            school.plan,
            spec.users,
            spec.start,
            spec.end,
            spec.seed,
            school.index,
            now=NOW,
            pupils=school.pupils,
        )
    ]


def test_load_writes_every_generated_event_once(db):
    schools = prepare(SPEC)
    expected = expected_events(SPEC, schools)
    report = load_db(SPEC, schools, now=NOW)
    assert report.written == len(expected) > 500
    assert (report.duplicates, report.errors) == (0, 0)
    assert count(db, Attendance) == len(expected)
    assert count(db, School) == 2 and count(db, User) == 50
    stored = set(db.session.execute(select(Attendance.school_id, Attendance.idempotency_key)))
    assert stored == {(s.id, e.client_event_id) for s, e in expected}
    assert db.session.scalar(select(func.max(Attendance.timestamp))) <= NOW


def test_rerun_with_the_same_seed_adds_nothing(db):
    load_db(SPEC, prepare(SPEC), now=NOW)
    before = (count(db, Attendance), count(db, User), count(db, School), count(db, Closure))
    versions = set(
        db.session.execute(select(DayVersion.school_id, DayVersion.day, DayVersion.version))
    )
    again = load_db(SPEC, prepare(SPEC), now=NOW)
    assert again.written == 0 and again.duplicates == before[0]
    assert (count(db, Attendance), count(db, User), count(db, School), count(db, Closure)) == before
    db.session.expire_all()
    after = set(
        db.session.execute(select(DayVersion.school_id, DayVersion.day, DayVersion.version))
    )
    assert after == versions


def test_a_later_run_adds_only_what_happened_since(db):
    schools = prepare(SPEC)
    first = load_db(SPEC, schools, now=NOW)
    later = load_db(SPEC, schools, now=NOW + dt.timedelta(days=3))
    assert later.duplicates == first.written and later.written > 0
    assert count(db, Attendance) == first.written + later.written


@pytest.mark.parametrize("batch", [40, 100_000])
def test_day_versions_bumped_once_per_touched_local_date(db, batch):
    schools = prepare(SPEC)
    load_db(SPEC, schools, now=NOW, batch=batch)
    zones = {s.id: ZoneInfo(s.plan.timezone) for s in schools}
    touched = {
        (school_id, ts.astimezone(zones[school_id]).date())
        for school_id, ts in db.session.execute(select(Attendance.school_id, Attendance.timestamp))
    }
    versions = dict(
        ((s, d), v)
        for s, d, v in db.session.execute(
            select(DayVersion.school_id, DayVersion.day, DayVersion.version)
        )
    )
    assert set(versions) == touched
    assert set(versions.values()) == {1}


def test_no_check_out_precedes_its_check_in(db):
    schools = prepare(SPEC)
    load_db(SPEC, schools, now=NOW)
    zones = {s.id: ZoneInfo(s.plan.timezone) for s in schools}
    days: dict[tuple[int, dt.date], list[str]] = defaultdict(list)
    query = select(Attendance.user_id, Attendance.school_id, Attendance.timestamp, Attendance.type)
    for user_id, school_id, ts, kind in db.session.execute(
        query.order_by(Attendance.user_id, Attendance.timestamp, Attendance.id)
    ):
        days[(user_id, ts.astimezone(zones[school_id]).date())].append(kind)
    assert days
    for kinds in days.values():
        assert kinds[0] == "checkin"
        assert all(a != b for a, b in zip(kinds, kinds[1:], strict=False)), kinds


def test_closures_and_weekends_are_quiet(db):
    schools = prepare(SPEC)
    load_db(SPEC, schools, now=NOW)
    for school in schools:
        closed = set(db.session.scalars(select(Closure.date).where(Closure.school_id == school.id)))
        assert closed == {d for d in school.plan.closures if SPEC.start <= d <= SPEC.end}
        zone = ZoneInfo(school.plan.timezone)
        stamps = db.session.scalars(
            select(Attendance.timestamp).where(Attendance.school_id == school.id)
        )
        local_days = {ts.astimezone(zone).date() for ts in stamps}
        assert local_days
        assert not local_days & closed
        assert all(d.isoweekday() <= 5 for d in local_days)


def test_spec_limits():
    with pytest.raises(ValueError, match="end date"):
        DemoSpec(1, 1, dt.date(2026, 11, 2), dt.date(2026, 11, 1)).check()
    with pytest.raises(ValueError, match="366"):
        DemoSpec(1, 1, dt.date(2025, 1, 1), dt.date(2026, 11, 1)).check()
    with pytest.raises(ValueError, match="users"):
        DemoSpec(1, 0, dt.date(2026, 11, 1), dt.date(2026, 11, 1)).check()
