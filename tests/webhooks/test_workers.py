"""Webhooks on real parts: PostgreSQL, Redis, two `flask worker` processes, a real receiver."""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

import pytest
from sqlalchemy import func, select

from attendance import clock, create_app
from attendance.extensions import db as _db
from attendance.webhook_models import DayClose, WebhookDelivery

from ..conftest import event_body
from ..receiver import running_receiver, verify

pytestmark = pytest.mark.slow


def worker_config(app_config: dict[str, Any]) -> dict[str, Any]:
    """What the workers need to share with the test's app: the key of the secrets."""
    return {
        "SECRET_KEY": app_config["SECRET_KEY"],
        "WEBHOOK_ALLOW_NETWORKS": "127.0.0.0/8",
        "WEBHOOK_RETRY_BASE": 1,
    }


def wait_until(check, seconds: float = 90.0) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        _db.session.rollback()
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"not done within {seconds} s")


def test_two_workers_close_each_school_day_once(
    app_config,
    db,
    make_school,
    make_user,
    subscribe,
    start_workers,
):
    # Every weekday is a school day: yesterday, whatever it was, is one to close. The
    # workers read the real clock: the day ends twelve hours from now, so that no other
    # date closes while the test runs (at midnight, with none, today's would).
    day_end = (clock.now() + dt.timedelta(hours=12)).time().replace(second=0, microsecond=0)
    schools = [
        make_school(name=f"S{i}", school_days=[1, 2, 3, 4, 5, 6, 7], day_end=day_end)
        for i in range(4)
    ]
    for school in schools:
        make_user(school=school)
    with running_receiver() as receiver:
        hook = subscribe(receiver.url, ["school.day_closed"])  # every school
        start_workers(2, **worker_config(app_config))
        wait_until(
            lambda: (
                db.session.scalar(
                    select(func.count())
                    .select_from(WebhookDelivery)
                    .where(WebhookDelivery.status == "delivered")
                )
                == len(schools)
            )
        )
        time.sleep(3)  # a few more ticks of both workers: nothing more may happen
        got = receiver.received
    closes = db.session.execute(select(DayClose.school_id, DayClose.date, DayClose.status)).all()
    assert sorted(c.school_id for c in closes) == sorted(s.id for s in schools)
    assert {c.status for c in closes} == {"done"}
    assert len(got) == len(schools)
    assert len({r.headers["webhook-id"] for r in got}) == len(schools)
    dates = {verify(hook["secret"], r.headers, r.body)["data"]["date"] for r in got}
    assert dates == {c.date.isoformat() for c in closes}


def test_500_then_200_through_rq_scheduler(
    app_config,
    redis_url,
    db,
    make_user,
    subscribe,
    start_workers,
    make_token,
):
    user = make_user()
    app = create_app({**app_config, "REDIS_URL": redis_url, "JOBS_SYNCHRONOUS": False})
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {make_token('district')}"
    try:
        with running_receiver(script=[500]) as receiver:
            hook = subscribe(receiver.url, ["attendance.fever"], user.school_id)
            start_workers(1, **worker_config(app_config))
            assert (
                client.post("/api/attendances", json=event_body(user, temperature=39.1)).status_code
                == 201
            )
            got = receiver.wait_for(2, seconds=90)
            wait_until(lambda: db.session.scalar(select(WebhookDelivery.status)) == "delivered")
            time.sleep(2)
            got = receiver.received
    finally:
        with app.app_context():
            for engine in _db.engines.values():
                engine.dispose()
    assert len(got) == 2
    assert got[0].headers["webhook-id"] == got[1].headers["webhook-id"]
    assert got[0].body == got[1].body
    for r in got:
        assert json.loads(r.body)["type"] == "attendance.fever"
        verify(hook["secret"], r.headers, r.body)
    row = db.session.scalars(select(WebhookDelivery)).one()
    assert (row.attempts, row.last_status_code) == (2, 200)


def test_two_workers_sweep_a_lost_fever_once(
    app_config, db, client, make_user, subscribe, start_workers, monkeypatch
):
    from attendance.api import attendances as attendances_api
    from attendance.models import Attendance
    from attendance.webhook_models import Webhook

    user = make_user()
    # The check-in's process dies between its commit and the recording of its deliveries.
    monkeypatch.setattr(attendances_api, "fevers_recorded", lambda *args: None)
    with running_receiver() as receiver:
        hook = subscribe(receiver.url, ["attendance.fever"], user.school_id)
        answer = client.post("/api/attendances", json=event_body(user, temperature=39.4))
        assert answer.status_code == 201
        # Two minutes ago (past the minute the sweep leaves to the check-in path), to a
        # subscription of ten minutes ago.
        reading = db.session.get(Attendance, answer.json["data"]["id"])
        reading.timestamp -= dt.timedelta(minutes=2)
        reading.received_at -= dt.timedelta(minutes=2)
        webhook = db.session.get(Webhook, hook["id"])
        webhook.created_at -= dt.timedelta(minutes=10)
        webhook.enabled_at -= dt.timedelta(minutes=10)
        db.session.commit()
        start_workers(2, **worker_config(app_config))
        [got] = receiver.wait_for(1, seconds=90)
        time.sleep(3)  # more passes of both workers' loops: nothing more
        assert len(receiver.received) == 1
    payload = verify(hook["secret"], got.headers, got.body)
    assert payload["data"]["attendance_id"] == answer.json["data"]["id"]
    assert db.session.scalar(select(func.count()).select_from(WebhookDelivery)) == 1
