"""The fever sweep: a fever whose deliveries the check-in never recorded is delivered, once."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from sqlalchemy import func, select, update

from attendance.api import attendances as attendances_api
from attendance.api import bulk as bulk_api
from attendance.extensions import db as _db
from attendance.jobs import webhooks as webhook_jobs
from attendance.jobs.ticker import start_ticker
from attendance.jobs.webhooks import catch_up_fevers, fevers_recorded
from attendance.services.webhooks import delivery, events, sending, settings_from
from attendance.webhook_models import Webhook, WebhookDelivery

from ..conftest import event_body
from ..receiver import running_receiver, verify

NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def lost(monkeypatch):
    """The check-in path dies between its commit and the recording of its fever's deliveries."""
    monkeypatch.setattr(attendances_api, "fevers_recorded", lambda *args: None)
    monkeypatch.setattr(bulk_api, "fevers_recorded", lambda *args: None)


def sweep(app) -> None:
    """One pass of the sweep, as a worker's loop runs it (in an app context of its own;
    the test's session lets go of its transaction first, as SQLite has one writer)."""
    _db.session.rollback()
    with app.app_context():
        catch_up_fevers()


def deliveries(db, webhook_id: int | None = None) -> int:
    query = select(func.count()).select_from(WebhookDelivery)
    if webhook_id is not None:
        query = query.where(WebhookDelivery.webhook_id == webhook_id)
    db.session.rollback()
    return db.session.scalar(query)


def test_a_lost_fever_is_delivered_once_by_the_sweep(
    app, client, db, make_user, subscribe, frozen, lost
):
    clock = frozen(NOW)
    user = make_user(external_id="P-1")
    with running_receiver() as receiver:
        hook = subscribe(receiver.url, ["attendance.fever"], user.school_id)
        clock.advance(60)
        answer = client.post("/api/attendances", json=event_body(user, temperature=38.4))
        assert answer.status_code == 201
        assert deliveries(db) == 0  # lost: nothing recorded, nothing sent
        sweep(app)  # within the minute left to the check-in path: not yet
        assert deliveries(db) == 0
        clock.advance(61)
        sweep(app)
        [got] = receiver.wait_for(1)
        sweep(app)  # again: the delivery is there, nothing more
        clock.advance(3600)
        sweep(app)
        # The check-in path coming back late records nothing more either.
        reading = answer.json["data"]
        stamp = dt.datetime.fromisoformat(reading["timestamp"])
        fevers_recorded([(reading["id"], stamp)], [user.school_id])
        time.sleep(0.2)
        assert len(receiver.received) == 1
    payload = verify(hook["secret"], got.headers, got.body, tolerance=None)
    assert payload["type"] == "attendance.fever"
    assert payload["data"]["attendance_id"] == answer.json["data"]["id"]
    assert payload["data"]["external_id"] == "P-1"
    assert deliveries(db) == 1
    [row] = client.get(f"/api/webhooks/{hook['id']}/deliveries").json["data"]
    assert (row["id"], row["status"]) == (got.headers["webhook-id"], "delivered")


def test_the_sweep_leaves_delivered_fevers_and_normal_readings_alone(
    app, client, db, make_user, subscribe, frozen
):
    clock = frozen(NOW)
    user = make_user()
    with running_receiver() as receiver:
        subscribe(receiver.url, ["attendance.fever"], user.school_id)
        clock.advance(60)
        client.post("/api/attendances", json=event_body(user, temperature=39.0))
        client.post("/api/attendances", json=event_body(user, temperature=36.6))
        receiver.wait_for(1)
        clock.advance(120)
        sweep(app)
        time.sleep(0.2)
        assert len(receiver.received) == 1
    assert deliveries(db) == 1


def test_a_lost_bulk_sync_is_swept_for_each_subscription_that_existed(
    app, client, db, make_user, subscribe, frozen, lost, monkeypatch
):
    clock = frozen(NOW)
    asked: list[object] = []  # the sweep has its subscriptions: it does not ask again
    subscribers = events.subscribers

    def counted(*args):
        asked.append(args)
        return subscribers(*args)

    monkeypatch.setattr(events, "subscribers", counted)
    user = make_user()
    with running_receiver() as receiver:
        school_hook = subscribe(receiver.url, ["attendance.fever"], user.school_id)
        every_school = subscribe(receiver.url, ["attendance.fever"])
        days_only = subscribe(receiver.url, ["school.day_closed"], user.school_id)
        clock.advance(60)
        items = [
            event_body(user, temperature=38.0, client_event_id="a"),
            event_body(user, temperature=36.0, client_event_id="b"),
            event_body(user, temperature=40.1, client_event_id="c"),
        ]
        assert client.post("/api/attendances/bulk", json={"attendances": items}).status_code == 200
        clock.advance(600)
        # Made after the readings: it gets none of them.
        late = subscribe(receiver.url, ["attendance.fever"], user.school_id)
        clock.advance(120)
        sweep(app)
        got = receiver.wait_for(4)
        time.sleep(0.2)
        assert len(receiver.received) == 4
    assert asked == []
    assert deliveries(db, school_hook["id"]) == deliveries(db, every_school["id"]) == 2
    assert deliveries(db, days_only["id"]) == deliveries(db, late["id"]) == 0
    by_hook = {hook["id"]: [] for hook in (school_hook, every_school)}
    for received in got:
        for hook in (school_hook, every_school):
            try:
                payload = verify(hook["secret"], received.headers, received.body, tolerance=None)
            except AssertionError:
                continue
            by_hook[hook["id"]].append(payload["data"]["temperature"])
    assert {k: sorted(v) for k, v in by_hook.items()} == {
        school_hook["id"]: [38.0, 40.1],
        every_school["id"]: [38.0, 40.1],
    }


def test_no_reading_from_while_a_subscription_was_disabled(
    app, client, db, make_user, subscribe, frozen, monkeypatch
):
    clock = frozen(NOW)
    user = make_user()
    with running_receiver() as receiver:
        hook = subscribe(receiver.url, ["attendance.fever"], user.school_id)
        clock.advance(60)
        client.post("/api/attendances", json=event_body(user, temperature=38.0))
        [first] = receiver.wait_for(1)
        # Days of failures disabled the subscription; a fever comes meanwhile: a disabled
        # subscription gets nothing.
        db.session.execute(update(Webhook).values(disabled_at=clock.at))
        db.session.commit()
        clock.advance(600)
        client.post("/api/attendances", json=event_body(user, temperature=38.6))
        clock.advance(600)
        # A try under way when it was disabled succeeds: enabled again, from now on.
        with app.app_context():
            settings = settings_from(app.config)
            delivery.record(first.headers["webhook-id"], sending.Answer(200), settings)
            _db.session.commit()
        db.session.rollback()
        assert db.session.get(Webhook, hook["id"]).enabled_at == clock.at
        clock.advance(60)
        monkeypatch.setattr(attendances_api, "fevers_recorded", lambda *args: None)
        after = client.post("/api/attendances", json=event_body(user, temperature=38.9))
        clock.advance(300)
        sweep(app)
        [_, swept] = receiver.wait_for(2)
        time.sleep(0.2)
        assert len(receiver.received) == 2  # not the fever of the pause
    payload = verify(hook["secret"], swept.headers, swept.body, tolerance=None)
    assert payload["data"]["attendance_id"] == after.json["data"]["id"]
    assert deliveries(db) == 2


def test_two_sweeps_at_once_record_one_delivery(
    app, db, make_user, subscribe, frozen, lost, client
):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL (SQLite locks the whole database)")
    clock = frozen(NOW)
    user = make_user()
    hook = subscribe("http://127.0.0.1:9/x", ["attendance.fever"], user.school_id)
    clock.advance(60)
    client.post("/api/attendances", json=event_body(user, temperature=38.0))
    clock.advance(120)
    mine = events.missed_fevers(clock.at)  # inserted, not committed yet
    assert len(mine) == 1
    theirs: list[list[str]] = []

    def other_sweep() -> None:
        with app.app_context():
            try:
                theirs.append(events.missed_fevers(clock.at))  # waits for our commit
                _db.session.commit()
            finally:
                _db.session.remove()

    thread = threading.Thread(target=other_sweep)
    thread.start()
    time.sleep(0.5)
    db.session.commit()
    thread.join(30)
    assert theirs == [[]]
    assert deliveries(db, hook["id"]) == 1


def test_the_embedded_thread_sweeps(
    app, client, db, make_user, subscribe, frozen, lost, monkeypatch
):
    clock = frozen(NOW)
    user = make_user()
    with running_receiver() as receiver:
        subscribe(receiver.url, ["attendance.fever"], user.school_id)
        clock.advance(60)
        client.post("/api/attendances", json=event_body(user, temperature=38.0))
        clock.advance(120)
        monkeypatch.setitem(app.config, "WEBHOOK_TICK_INTERVAL", 0.05)
        monkeypatch.setattr(webhook_jobs, "FEVER_SWEEP_EVERY", 0.05)
        ticker = start_ticker(app)
        try:
            got = receiver.wait_for(1, seconds=60)
            time.sleep(0.5)  # more passes: nothing more
        finally:
            ticker.stop()
        assert len(got) == 1 and len(receiver.received) == 1
    assert deliveries(db) == 1
