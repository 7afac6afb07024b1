"""The report pipeline in-process: figures, the per-day cache, failures, recovery."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from attendance import clock, presence
from attendance.jobs import reports as jobs
from attendance.models import (
    Attendance,
    DaySummary,
    Enrolment,
    Report,
    ReportChunk,
    User,
)
from attendance.services import reports as service
from attendance.services.reports import reading, requesting, steps

from .. import faults
from ..conftest import submit_report

NOW = dt.datetime(2026, 11, 27, 10, 0, tzinfo=dt.UTC)  # presence.md's Friday
MON = dt.date(2026, 11, 23)
FRI = dt.date(2026, 11, 27)


def at(day: dt.date, hh: int, mm: int = 0, ss: int = 0) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hh, mm, ss, tzinfo=dt.UTC)


def d(offset: int) -> dt.date:
    return MON + dt.timedelta(days=offset)


@pytest.fixture
def week(db, make_school, make_user, make_event):
    """presence.md's worked examples 1-8 and 10, one user each, in one school."""
    school = make_school(name="Examples")
    plan = {
        "ex1": [("checkin", at(d(0), 8)), ("checkout", at(d(0), 12))],
        "ex2": [("checkin", at(d(0), 8)), ("checkout", at(d(0), 12, 0, 1))],
        "ex3": [
            ("checkin", at(d(1), 8)),
            ("checkout", at(d(1), 10)),
            ("checkin", at(d(1), 11)),
            ("checkout", at(d(1), 13, 30)),
        ],
        "ex4": [("checkin", at(d(1), 8)), ("checkin", at(d(1), 9)), ("checkout", at(d(1), 12, 30))],
        "ex5": [("checkout", at(d(1), 7)), ("checkin", at(d(1), 8)), ("checkout", at(d(1), 11))],
        "ex6": [("checkin", at(d(2), 8))],
        "ex7": [("checkin", at(FRI, 9, 30))],
        "ex8": [("checkin", at(FRI, 6)), ("checkout", at(FRI, 6, 30))],
        "ex10": [
            *[(t, at(d(i), h)) for i in range(4) for t, h in (("checkin", 8), ("checkout", 13))],
            ("checkin", at(FRI, 9)),
        ],
    }
    users = {}
    for name, events in plan.items():
        users[name] = make_user(school=school, name=name)
        for kind, ts in events:
            make_event(user=users[name], type=kind, timestamp=ts)
    return school, users


def expected(school, start, end, granularity):
    """The same figures straight from the presence module, for comparison."""
    from attendance.extensions import db

    rows = db_events(school)
    rules = service.rules_for(school)
    days = presence.day_results_range(rows, start, end, rules, NOW)
    spans: dict[int, list[presence.Span]] = {}
    for e in db.session.scalars(select(Enrolment).where(Enrolment.school_id == school.id)):
        spans.setdefault(e.user_id, []).append((e.from_, e.until))
    figures = presence.aggregate(spans, days, start, end, granularity, rules, NOW, spans)
    return reading.FiguresSchema().dump(figures)


def db_events(school):
    from attendance.extensions import db

    return [
        presence.Event(e.id, e.user_id, e.type, e.timestamp)
        for e in db.session.scalars(select(Attendance).where(Attendance.school_id == school.id))
    ]


def school_users(school):
    from attendance.extensions import db

    return db.session.scalars(
        select(User).where(User.school_id == school.id, User.deleted_at.is_(None))
    ).all()


def figures(report: Report) -> dict:
    doc = reading.ReportSchema().dump(reading.report_answer(report))
    return {
        k: doc[k]
        for k in (
            "from",
            "to",
            "granularity",
            "enrolled",
            "presences",
            "absences",
            "chronic",
            "buckets",
        )
    }


def run(school, start, end, granularity, now=NOW) -> Report:
    report = submit_report(school, start, end, granularity, now)
    from attendance.extensions import db

    db.session.expire_all()
    return db.session.get(Report, report.id)


def test_worked_examples_by_day(week):
    school, _ = week
    report = run(school, MON, FRI, "day")
    assert report.status == "finished"
    assert [b["present"] for b in figures(report)["buckets"]] == [2, 3, 1, 1, 2]
    # Mon: ex2, ex10; Tue: ex3, ex4, ex10; Wed: ex10; Thu: ex10; Fri: ex7, ex10 (checked in now)
    assert figures(report) == expected(school, MON, FRI, "day")
    doc = reading.ReportSchema().dump(reading.report_answer(report))
    assert doc["generated_at"] == "2026-11-27T10:00:00Z"


def test_worked_examples_week_and_overall(week):
    school, users = week
    report = run(school, MON, d(6), "week")
    doc = figures(report)
    assert doc["buckets"] == [
        {
            "start": "2026-11-23",
            "end": "2026-11-29",
            "counted_days": 5,
            "enrolled": 9,
            "present": 1,
            "absent": 8,
        }
    ]
    assert (doc["presences"], doc["absences"]) == (1, 8)  # example 10: 5/5
    assert report.result["per_user"][str(users["ex10"].id)]["present"] is True
    assert doc == expected(school, MON, d(6), "week")


def test_future_week_has_no_figure(week):
    school, _ = week
    doc = figures(run(school, dt.date(2026, 11, 30), dt.date(2026, 12, 6), "week"))
    assert doc["buckets"][0]["counted_days"] == 0
    assert (doc["presences"], doc["absences"]) == (None, None)
    assert doc["buckets"][0]["present"] is None


def test_single_day_overall_and_quality(week):
    school, _ = week
    report = run(school, d(1), d(1), "day")
    assert (report.result["presences"], report.result["absences"]) == (3, 6)
    assert report.result["quality"] == [
        {"date": "2026-11-24", "orphan_checkouts": 1, "unclosed": 0}
    ]
    wed = run(school, d(2), d(2), "day")
    assert wed.result["quality"][0]["unclosed"] == 1
    today = run(school, FRI, FRI, "day")
    assert today.result["in_school_now"] == 2  # ex7 and ex10


def test_month_reuses_the_week_cache(week, make_event, db):
    school, users = week
    for offset in (-7, -5, -3):
        make_event(user=users["ex1"], type="checkin", timestamp=at(d(offset), 8))
    db.session.commit()
    run(school, d(-7), d(-1), "week")
    report = run(school, dt.date(2026, 11, 1), dt.date(2026, 11, 30), "month")
    sources = {c.day: c.source for c in report.chunks}
    assert [sources[d(i)] for i in range(-7, 0)] == [
        "cache", "empty", "cache", "empty", "cache", "empty", "empty"
    ]  # fmt: skip
    assert sources[d(0)] == "computed" and sources[FRI] == "computed"
    assert sources[dt.date(2026, 11, 1)] == "empty"  # a Sunday without events: no job
    assert sources[dt.date(2026, 11, 28)] == "future"
    assert figures(report) == expected(school, dt.date(2026, 11, 1), dt.date(2026, 11, 30), "month")


def test_today_is_never_cached(week, db):
    school, _ = week
    run(school, MON, FRI, "day")
    cached = set(
        db.session.scalars(select(DaySummary.day).where(DaySummary.school_id == school.id))
    )
    assert cached == {d(i) for i in range(4)}


def test_a_late_event_invalidates_only_its_day(week, client, db):
    school, users = week
    run(school, MON, FRI, "week")
    # ex1 was absent on Monday by exactly 4 h; a late sync adds a morning session.
    resp = client.post(
        "/api/attendances",
        json={
            "user_id": users["ex1"].id,
            "school_id": school.id,
            "type": "checkin",
            "temperature": 36.5,
            "timestamp": "2026-11-23T13:00:00Z",
        },
    )
    assert resp.status_code == 201
    client.post(
        "/api/attendances",
        json={
            "user_id": users["ex1"].id,
            "school_id": school.id,
            "type": "checkout",
            "temperature": 36.5,
            "timestamp": "2026-11-23T13:00:01Z",
        },
    )
    report = run(school, MON, FRI, "day")
    sources = {c.day: c.source for c in report.chunks}
    assert sources == {
        d(0): "computed",
        d(1): "cache",
        d(2): "cache",
        d(3): "cache",
        FRI: "computed",
    }
    assert report.result["buckets"][0]["present"] == 3  # ex1 now has 4 h 00 min 01 s
    assert figures(report) == expected(school, MON, FRI, "day")


def test_deleting_an_event_invalidates_its_day(week, client, db):
    school, users = week
    run(school, MON, FRI, "day")
    event = db.session.scalar(
        select(Attendance).where(
            Attendance.user_id == users["ex2"].id, Attendance.type == "checkout"
        )
    )
    assert client.delete(f"/api/attendances/{event.id}").status_code == 204
    report = run(school, MON, FRI, "day")
    assert {c.day: c.source for c in report.chunks}[d(0)] == "computed"
    assert report.result["buckets"][0]["present"] == 1


@pytest.mark.parametrize(
    "change",
    [
        {"min_daily_hours": 3.5},
        {"school_days": [1, 2, 3]},
        {"timezone": "Asia/Ho_Chi_Minh"},
        {"period_ratio": 0.5},
    ],
)
def test_settings_changes_invalidate_the_cache(week, client, change):
    school, _ = week
    run(school, MON, FRI, "week")
    past = run(school, MON, d(3), "week")  # over by NOW: its report could be reused as is
    assert client.patch(f"/api/schools/{school.id}", json=change).status_code == 200
    report = run(school, MON, FRI, "week")
    assert all(c.source == "computed" for c in report.chunks)
    assert figures(report) == expected(school, MON, FRI, "week")
    again = run(school, MON, d(3), "week")
    assert again.id != past.id
    assert figures(again) == expected(school, MON, d(3), "week")


def test_closures_and_enrolment_invalidate_the_cache(week, client, db):
    school, users = week
    run(school, MON, d(6), "week")
    client.post(f"/api/schools/{school.id}/closures", json={"date": "2026-11-24"})
    report = run(school, MON, d(6), "week")
    assert all(c.source in ("computed", "future") for c in report.chunks)
    assert report.result["buckets"][0]["counted_days"] == 4
    assert figures(report) == expected(school, MON, d(6), "week")
    past = run(school, MON, d(3), "day")  # over by NOW: its report could be reused as is
    # Archived now (after NOW's week), ex10 is still counted on the week's counted days
    # (presence.md 5): the past is unchanged, so its finished report is shared as is.
    client.delete(f"/api/users/{users['ex10'].id}")
    report = run(school, MON, d(6), "week")
    assert report.result["enrolled"] == 9
    assert report.result["per_user"][str(users["ex10"].id)]["counted_days"] == 4
    assert figures(report) == expected(school, MON, d(6), "week")
    again = run(school, MON, d(3), "day")
    assert again.id == past.id and again.result["enrolled"] == 9
    assert figures(again) == expected(school, MON, d(3), "day")


def test_closing_and_reopening_a_date_change_a_past_range(week, client):
    school, _ = week
    closures = f"/api/schools/{school.id}/closures"
    before = run(school, MON, d(3), "week")  # Mon to Thu: over by NOW
    closure = client.post(closures, json={"date": "2026-11-24"}).json["data"]
    closed = run(school, MON, d(3), "week")
    assert closed.id != before.id and closed.result["buckets"][0]["counted_days"] == 3
    assert figures(closed) == expected(school, MON, d(3), "week")
    assert client.delete(f"{closures}/{closure['id']}").status_code == 204
    reopened = run(school, MON, d(3), "week")
    assert reopened.id != closed.id and reopened.result["buckets"][0]["counted_days"] == 4
    assert figures(reopened) == figures(before) == expected(school, MON, d(3), "week")


def test_unchanged_past_range_reuses_the_finished_report(week):
    school, _ = week
    first = run(school, MON, d(3), "day")
    second = run(school, MON, d(3), "day")
    assert second.id == first.id


def test_identical_requests_share_one_computation(week, db):
    school, _ = week
    a, created_a = requesting.create_report(school, MON, FRI, "week", NOW)
    b, created_b = requesting.create_report(school, MON, FRI, "week", NOW)
    assert a.id == b.id and created_a and not created_b


def test_a_request_after_a_late_sync_does_not_share_the_earlier_computation(week, client, db):
    school, users = week
    a, _ = requesting.create_report(school, MON, FRI, "week", NOW)
    db.session.commit()
    late = {"user_id": users["ex6"].id, "school_id": school.id, "type": "checkout",
            "temperature": 36.6, "timestamp": "2026-11-25T13:00:00Z"}  # fmt: skip
    assert client.post("/api/attendances", json=late).status_code == 201
    db.session.expire_all()
    b, created = requesting.create_report(school, MON, FRI, "week", NOW)
    assert created and b.id != a.id


def test_steps_run_twice_change_nothing(week, app, db):
    school, _ = week
    report = run(school, MON, FRI, "day")
    report_id, before = report.id, report.result
    db.session.commit()  # end the test's transaction (SQLite would hold its lock)
    with app.app_context():  # as a worker runs them
        assert jobs.plan_report(report_id) == report_id
        jobs.compute_day(report_id, MON.isoformat())
        assert jobs.finalize_report(report_id) == "finished"
    db.session.expire_all()
    again = db.session.get(Report, report_id)
    assert again.result == before
    assert len(again.chunks) == 5


@pytest.fixture
def queued(monkeypatch) -> list[str]:
    """The ids of the jobs queued from now on (they are not run)."""
    ids: list[str] = []
    fake = SimpleNamespace(
        enqueue=lambda *calls: ids.extend(c.job_id for c in calls), announce=lambda ids: None
    )
    monkeypatch.setattr(jobs, "dispatcher", lambda: fake)
    return ids


def test_the_last_chunk_to_report_back_queues_the_final_step(week, app, db, queued):
    school, _ = week
    report, _ = requesting.create_report(school, MON, FRI, "day", NOW)
    report_id = report.id
    db.session.commit()
    with app.app_context():
        jobs.plan_report(report_id)
        days = [dt.date.fromisoformat(j.split("-day-")[1][:10]) for j in queued]
        assert days == [MON, d(1), d(2), d(3), FRI]
        queued.clear()
        for day in reversed(days[1:]):
            jobs.compute_day(report_id, day.isoformat())
        assert queued == []  # Monday has not reported back yet
        jobs.compute_day(report_id, MON.isoformat())
        assert queued == [f"report-{report_id}-final"]
        jobs.compute_day(report_id, MON.isoformat())  # run again: queues it again, harmless
        assert queued == [f"report-{report_id}-final"] * 2
        assert jobs.finalize_report(report_id) == "finished"
        assert jobs.finalize_report(report_id) == "finished"
    db.session.expire_all()
    assert figures(db.session.get(Report, report_id)) == expected(school, MON, FRI, "day")


def test_a_chunk_out_of_tries_queues_the_final_step_at_once(week, app, db, monkeypatch, queued):
    school, _ = week
    faults.install(monkeypatch, fail_days=[d(1)])
    monkeypatch.setitem(app.config, "REPORT_CHUNK_ATTEMPTS", 1)
    report, _ = requesting.create_report(school, MON, FRI, "day", NOW)
    report_id = report.id
    db.session.commit()
    with app.app_context():
        jobs.plan_report(report_id)
        queued.clear()
        with pytest.raises(RuntimeError):
            jobs.compute_day(report_id, d(1).isoformat())
        assert queued == [f"report-{report_id}-final"]  # the other days are still waiting
        assert jobs.finalize_report(report_id) == "failed"


def test_a_failing_chunk_fails_the_report(week, app, monkeypatch, db):
    school, _ = week
    faults.install(monkeypatch, fail_days=["2026-11-24"])
    report = run(school, MON, FRI, "day")
    assert report.status == "failed"
    assert (
        report.error == "could not compute 2026-11-24: RuntimeError: injected fault on 2026-11-24"
    )
    chunk = db.session.get(ReportChunk, (report.id, d(1)))
    assert chunk.attempts == 3 and chunk.status == "failed"
    doc = reading.ReportSchema().dump(reading.report_answer(report))
    assert doc["status"] == "failed" and "injected fault" in doc["error"]
    assert report.inflight_key is None


def test_a_lost_worker_is_recovered(week, app, db, monkeypatch):
    school, _ = week
    report, _ = requesting.create_report(school, MON, FRI, "day", NOW)
    db.session.commit()
    days = steps.plan(report.id)
    settings = service.settings_from(app.config)
    # A worker takes Tuesday's lease and dies without a word.
    assert steps.start_chunk(report.id, days[1], settings)
    db.session.commit()
    later = clock.now() + dt.timedelta(seconds=settings.chunk_timeout + settings.lease_grace + 1)
    monkeypatch.setattr(clock, "now", lambda: later)
    report_id = report.id
    db.session.commit()
    with app.app_context():
        found = jobs.reap()
    assert (report_id, days[1]) in found.chunks
    db.session.expire_all()
    report = db.session.get(Report, report_id)
    assert report.status == "finished"
    assert db.session.get(ReportChunk, (report.id, days[1])).attempts == 1
    assert figures(report) == expected(school, MON, FRI, "day")


def test_an_overdue_report_fails(week, app, db, monkeypatch):
    school, _ = week
    report, _ = requesting.create_report(school, MON, FRI, "day", NOW)
    db.session.commit()
    later = clock.now() + dt.timedelta(seconds=app.config["REPORT_DEADLINE"] + 1)
    monkeypatch.setattr(clock, "now", lambda: later)
    report_id = report.id
    db.session.commit()
    with app.app_context():
        jobs.reap()
    db.session.expire_all()
    report = db.session.get(Report, report_id)
    assert report.status == "failed" and "timed out" in report.error


def test_thresholds_are_exact(db, make_school, make_user, make_event):
    school = make_school(min_daily_hours=Decimal("3.5"))
    user = make_user(school=school)
    make_event(user=user, timestamp=at(MON, 8))
    make_event(user=user, type="checkout", timestamp=at(MON, 11, 30, 1))
    assert run(school, MON, MON, "day").result["presences"] == 1


def test_migration_0006_rewrites_results_of_the_row_format(week, db):
    """The first release stored a date's results as one array per user; 0006 rewrites
    them into columns of format 2. Rows of an older format than encoding.FORMAT are not
    read: their dates are computed again (the format is part of the cache's key)."""
    from flask_migrate import downgrade, upgrade

    columns_0006 = (
        "user_id", "total_us", "present", "checked_in_now", "orphan_checkouts", "unclosed",
        "first_checkin_us",
    )  # fmt: skip
    school, _ = week
    first = run(school, MON, d(3), "day")  # caches Monday to Thursday in columns
    summaries = db.session.scalars(select(DaySummary).where(DaySummary.school_id == school.id))
    chunks = db.session.scalars(select(ReportChunk).where(ReportChunk.report_id == first.id))
    before = {}
    for row in [*summaries, *chunks]:
        cols = row.results
        before[type(row), db.inspect(row).identity] = {
            "format": 2,
            **{name: cols[name] for name in columns_0006},
        }
        row.results = [list(r) for r in zip(*(cols[n] for n in columns_0006), strict=True)]
    school_id = school.id
    db.session.commit()
    db.session.remove()
    downgrade(revision="0005")
    upgrade()
    assert len(before) == 8  # four cached days, four chunks
    for (model, key), cols in before.items():
        assert db.session.get(model, key).results == cols
    school = db.session.get(type(school), school_id)
    report = run(school, MON, FRI, "week")
    assert {c.day: c.source for c in report.chunks if c.day < FRI} == {
        d(i): "computed" for i in range(4)
    }
    assert figures(report) == expected(school, MON, FRI, "week")
    assert report.result["quality"] == run(school, MON, FRI, "day").result["quality"]
