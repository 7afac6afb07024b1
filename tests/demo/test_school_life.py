"""The quick demo shows school life: classes, pupil numbers, joiners and leavers, marks
(sick notes, gate-reader faults, planned absences) and the schools' day_end and late_after,
and a report over its range has excused and late days to show."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest
from sqlalchemy import func, select

from attendance.demo.generate import (
    DAY_END,
    LATE_AFTER,
    DemoSpec,
    generate_school_events,
    generate_school_marks,
    pupil_plans,
    quick_spec,
)
from attendance.models import Attendance, Enrolment, Mark, School, User
from attendance.presence import local_date
from attendance.security import admins

NOW = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def quick(runner, db):
    """The quick demo as `make run` loads it (the default sizes), up to the real now."""
    result = runner.invoke(args=["demo", "--quick"])
    assert result.exit_code == 0, result.output
    assert "Recorded" in result.output and "marks" in result.output
    return db


def test_pupils_have_numbers_and_classes_spread_evenly(quick):
    for school_id in quick.session.scalars(select(School.id)):
        users = quick.session.scalars(select(User).where(User.school_id == school_id)).all()
        numbers = [u.external_id for u in users]
        assert None not in numbers and len(set(numbers)) == len(users) == 60
        sizes = Counter(u.group for u in users)
        assert set(sizes) == {"5A", "5B", "5C"} and set(sizes.values()) == {20}


def test_schools_have_day_end_and_late_after(quick):
    rows = quick.session.execute(select(School.day_end, School.late_after)).all()
    assert len(rows) == 3 and set(rows) == {(DAY_END, LATE_AFTER)}
    assert (DAY_END, LATE_AFTER) == (dt.time(16, 30), dt.time(8, 15))


def test_joiners_and_leavers_have_events_only_while_enrolled(quick):
    zones = {i: tz for i, tz in quick.session.execute(select(School.id, School.timezone))}
    spans = quick.session.execute(
        select(Enrolment.user_id, Enrolment.school_id, Enrolment.from_, Enrolment.until)
    ).all()
    joiners = [s for s in spans if s.from_ is not None]
    leavers = [s for s in spans if s.until is not None]
    assert len(joiners) >= 3 and len(leavers) >= 3
    first, last = quick.session.execute(
        select(func.min(Attendance.timestamp), func.max(Attendance.timestamp))
    ).one()
    for user_id, school_id, start, until in joiners + leavers:
        days = {
            local_date(ts, zones[school_id])
            for ts in quick.session.scalars(
                select(Attendance.timestamp).where(Attendance.user_id == user_id)
            )
        }
        assert days, user_id  # each has days on the register
        assert start is None or (min(days) >= start > local_date(first, zones[school_id]))
        assert until is None or (max(days) <= until < local_date(last, zones[school_id]))


def test_marks_are_sick_notes_gate_faults_and_planned_absences_by_the_demo_admin(quick):
    demo = admins.find_by_email("demo@example.org")
    rows = quick.session.scalars(select(Mark)).all()
    assert {m.created_by for m in rows} == {f"admin:{demo.id}"}
    reasons = Counter((m.reason, m.status, m.excused) for m in rows)
    assert reasons[("Sick note", "absent", True)] >= 20
    assert reasons[("Gate reader down", "present", False)] >= 1
    planned = [m for m in rows if m.reason == "Family trip"]
    zones = {i: tz for i, tz in quick.session.execute(select(School.id, School.timezone))}
    today = {s: local_date(dt.datetime.now(dt.UTC), z) for s, z in zones.items()}
    assert planned and all(m.date > today[m.school_id] and m.excused for m in planned)
    assert len({(m.user_id, m.school_id) for m in planned}) >= 3  # a couple per school
    # A sick note is on a day the pupil has no events.
    for mark in (m for m in rows if m.reason == "Sick note"):
        stamps = quick.session.scalars(
            select(Attendance.timestamp).where(Attendance.user_id == mark.user_id)
        )
        assert mark.date not in {local_date(ts, zones[mark.school_id]) for ts in stamps}


def test_a_report_over_the_demo_range_has_excused_and_late_days(quick, client):
    school_id = quick.session.scalar(select(School.id).order_by(School.id).limit(1))
    timezone = quick.session.get(School, school_id).timezone
    end = local_date(dt.datetime.now(dt.UTC), timezone) - dt.timedelta(days=1)
    start = end - dt.timedelta(weeks=8)
    query = f"from={start}&to={end}&granularity=day"
    resp = client.get(f"/api/attendances/aggregate/school/{school_id}?{query}")
    assert resp.status_code == 200, resp.json
    doc = resp.json["data"]
    assert doc["status"] == "finished", doc
    days = [b for b in doc["buckets"] if b.get("school_day")]
    assert sum(b["excused"] for b in days) > 0
    assert sum(b["late"] for b in days) > 0


def test_school_life_is_the_same_for_a_seed():
    spec = quick_spec(NOW, 1, 60, 4)
    plan = spec.plans()[0]
    today = local_date(NOW, plan.timezone)

    def life(spec: DemoSpec):
        pupils = pupil_plans(spec.users, spec.start, spec.end, spec.seed, 0)
        marks = generate_school_marks(plan, pupils, spec.start, spec.end, spec.seed, 0, today)
        events = list(
            generate_school_events(
                plan, spec.users, spec.start, spec.end, spec.seed, now=NOW, pupils=pupils
            )
        )
        return pupils, marks, events

    assert life(spec) == life(quick_spec(NOW, 1, 60, 4))
    other = life(quick_spec(NOW, 1, 60, 4, seed=1))
    assert other[0] != life(spec)[0] and other[1] != life(spec)[1]
