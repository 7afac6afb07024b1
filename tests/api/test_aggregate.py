"""The aggregate endpoint and /api/reports/:id."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from attendance import clock, create_app, presence

from .. import faults


def test_today_by_default(client, make_event, frozen_now):
    # A check-in a minute ago: yesterday's, in the first minute of a day, without the pin.
    event = make_event(timestamp=frozen_now.at - dt.timedelta(minutes=1))
    resp = client.get(f"/api/attendances/aggregate/school/{event.school_id}")
    assert resp.status_code == 200
    doc = resp.json["data"]
    assert doc["from"] == doc["to"] == "2026-11-25" and doc["granularity"] == "day"
    assert (doc["enrolled"], doc["presences"], doc["absences"]) == (1, 1, 0)  # checked in now
    assert doc["status"] == "finished" and doc["report_id"]
    generated = dt.datetime.fromisoformat(doc["generated_at"].replace("Z", "+00:00"))
    assert dt.timedelta(0) <= generated - frozen_now.at <= dt.timedelta(seconds=1)
    assert list(doc) == [
        "school_id", "from", "to", "granularity", "enrolled", "presences", "absences",
        "chronic", "buckets", "report_id", "status", "generated_at",
    ]  # fmt: skip


def test_a_check_in_of_a_moment_ago_is_checked_in_now(client, make_user, monkeypatch):
    # Within the same second as the request: `now` is the next whole second, never the
    # last one, so the check-in counts (and `generated_at` is still the exact now).
    user = make_user()
    instant = dt.datetime(2026, 11, 23, 10, 0, 0, 400_000, tzinfo=dt.UTC)
    monkeypatch.setattr(clock, "now", lambda: instant)
    body = {"user_id": user.id, "school_id": user.school_id, "type": "checkin", "temperature": 36.6}
    assert client.post("/api/attendances", json=body).status_code == 201
    doc = client.get(f"/api/attendances/aggregate/school/{user.school_id}").json["data"]
    assert (doc["presences"], doc["absences"]) == (1, 0)
    assert doc["generated_at"] == "2026-11-23T10:00:01Z"


def test_document_shape_by_week(client, make_school, make_user):
    school = make_school()
    make_user(school=school)
    resp = client.get(
        f"/api/attendances/aggregate/school/{school.id}"
        "?from=2026-11-01&to=2026-11-30&granularity=week"
    )
    assert resp.status_code == 200
    buckets = resp.json["data"]["buckets"]
    assert buckets[0] == {
        "start": "2026-11-01",
        "end": "2026-11-01",
        "counted_days": 0,
        "enrolled": None,
        "present": None,
        "absent": None,
    }
    assert [b["start"] for b in buckets] == [
        "2026-11-01", "2026-11-02", "2026-11-09", "2026-11-16", "2026-11-23", "2026-11-30",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("from=2026-13-01", "from"),
        ("from=yesterday", "from"),
        ("from=2026-11-10&to=2026-11-01", "from"),
        ("granularity=year", "granularity"),
        ("from=2025-01-01&to=2026-01-02", "to"),
        ("wait=-1", "wait"),
        ("wait=abc", "wait"),
    ],
)
def test_validation(client, make_school, query, field):
    school = make_school()
    resp = client.get(f"/api/attendances/aggregate/school/{school.id}?{query}")
    assert resp.status_code == 422
    assert field in resp.json["errors"], resp.json


def test_366_days_is_allowed(client, make_school):
    school = make_school()
    url = f"/api/attendances/aggregate/school/{school.id}?from=2025-01-01&to=2026-01-01"
    assert client.get(url).status_code == 200


def test_unknown_school_and_report(client):
    assert client.get("/api/attendances/aggregate/school/999").status_code == 404
    resp = client.get("/api/reports/nope")
    assert resp.status_code == 404 and resp.json == {"errors": {"detail": "Not Found"}}


def test_threaded_jobs_answer_202_then_poll(
    app_config, db, make_school, make_user, make_event, make_token, monkeypatch, frozen_now
):
    """`make run`'s mode: jobs on a background thread; a zero wait answers 202."""
    school = make_school()
    make_event(user=make_user(school=school), timestamp=dt.datetime(2026, 11, 2, 8, tzinfo=dt.UTC))
    school_id = school.id
    token = make_token("school", school_id)
    db.session.commit()
    # The one chunk sleeps a moment, so that a zero wait cannot see the report finished.
    faults.install(monkeypatch, chunk_sleep=0.5)
    threaded = create_app({**app_config, "JOBS_SYNCHRONOUS": False})
    client = threaded.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    url = f"/api/attendances/aggregate/school/{school_id}?from=2026-11-01&to=2026-11-30"
    url += "&granularity=month"
    resp = client.get(url + "&wait=0")
    assert resp.status_code == 202
    body = resp.json["data"]
    assert body["status"] in ("queued", "running", "finished")
    assert set(body["progress"]) == {"done", "total"}
    location = resp.headers["Location"]
    assert location.endswith(f"/api/reports/{body['report_id']}")
    deadline = time.monotonic() + 60  # generous: CI machines are shared and SQLite serializes
    while time.monotonic() < deadline:
        polled = client.get(location).json["data"]
        if polled["status"] == "finished":
            break
        time.sleep(0.05)
    assert polled["status"] == "finished"
    assert polled["report_id"] == body["report_id"]
    today = presence.local_today(frozen_now.at, "UTC")  # the month's counted days end there
    counted = presence.counted_days(
        dt.date(2026, 11, 1), dt.date(2026, 11, 30), presence.Rules(), today
    )
    assert polled["buckets"][0]["counted_days"] == len(counted)
    # A generous wait gets the figures straight away.
    again = client.get(url + "&wait=10")
    assert again.status_code == 200 and again.json["data"]["buckets"] == polled["buckets"]
    with threaded.app_context():
        from attendance.extensions import db as _db

        for engine in _db.engines.values():
            engine.dispose()
