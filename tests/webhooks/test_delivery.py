"""Fever events delivered to a real HTTP receiver, signed, retried with the same id."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from attendance.jobs.webhooks import tick
from attendance.webhook_models import Webhook, WebhookDelivery

from ..conftest import event_body
from ..receiver import running_receiver, verify

NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)


def test_a_fever_is_delivered_signed_to_a_real_receiver(client, make_user, subscribe):
    user = make_user(external_id="P-7", group="5B")
    with running_receiver() as receiver:
        hook = subscribe(receiver.url, ["attendance.fever"], user.school_id)
        assert hook["secret"].startswith("whsec_")
        answer = client.post("/api/attendances", json=event_body(user, temperature=38.2))
        assert answer.status_code == 201
        [got] = receiver.wait_for(1)
    payload = verify(hook["secret"], got.headers, got.body)
    assert got.path == "/hooks"
    assert got.headers["content-type"] == "application/json"
    assert got.headers["webhook-id"].startswith("msg_")
    assert payload["type"] == "attendance.fever"
    assert payload["timestamp"].endswith("Z")
    data = payload["data"]
    assert data["attendance_id"] == answer.json["data"]["id"]
    assert (data["user_id"], data["external_id"], data["group"]) == (user.id, "P-7", "5B")
    assert (data["temperature"], data["fever_threshold"]) == (38.2, 37.5)
    [row] = client.get(f"/api/webhooks/{hook['id']}/deliveries").json["data"]
    assert row["id"] == got.headers["webhook-id"]
    assert (row["status"], row["attempts"], row["last_status_code"]) == ("delivered", 1, 200)


def test_a_tampered_body_or_another_secret_fails_the_independent_check(
    client, make_user, subscribe
):
    user = make_user()
    with running_receiver() as receiver:
        hook = subscribe(receiver.url, ["attendance.fever"], user.school_id)
        client.post("/api/attendances", json=event_body(user, temperature=39))
        [got] = receiver.wait_for(1)
    verify(hook["secret"], got.headers, got.body)
    with pytest.raises(AssertionError):
        verify(hook["secret"], got.headers, got.body.replace(b"39", b"36"))
    with pytest.raises(AssertionError):
        verify("whsec_" + "A" * 44, got.headers, got.body)


def test_no_event_below_the_threshold_nor_for_a_retried_key(client, make_user, subscribe):
    user = make_user()
    with running_receiver() as receiver:
        subscribe(receiver.url, ["attendance.fever"], user.school_id)
        client.post("/api/attendances", json=event_body(user, temperature=37.4))
        headers = {"Idempotency-Key": "k-1"}
        first = client.post(
            "/api/attendances", json=event_body(user, temperature=37.5), headers=headers
        )
        again = client.post(
            "/api/attendances", json=event_body(user, temperature=37.5), headers=headers
        )
        assert (first.status_code, again.status_code) == (201, 200)
        got = receiver.wait_for(1)
    assert len(got) == 1  # 37.5 is the threshold: a fever, once


def test_fevers_of_a_late_bulk_sync_are_delivered_once_each(client, make_user, subscribe, db):
    user = make_user()
    other = make_user()  # another school: its subscription is not this one
    with running_receiver() as receiver:
        subscribe(receiver.url, ["attendance.fever"], user.school_id)
        old = "2026-11-02T08:00:00Z"
        items = [
            event_body(user, temperature=38.0, timestamp=old, client_event_id="a"),
            event_body(user, temperature=36.0, client_event_id="b"),
            event_body(user, temperature=40.1, client_event_id="c"),
            event_body(other, temperature=39.0, client_event_id="d"),
        ]
        assert client.post("/api/attendances/bulk", json={"attendances": items}).status_code == 200
        client.post("/api/attendances/bulk", json={"attendances": items})  # all duplicates now
        got = receiver.wait_for(2)
    temperatures = sorted(verify_any(r)["data"]["temperature"] for r in got)
    assert temperatures == [38.0, 40.1]
    assert (
        db.session.scalar(select(WebhookDelivery.id).where(WebhookDelivery.event_key == "x"))
        is None
    )


def verify_any(received):
    import json

    return json.loads(received.body)


def test_500_then_200_is_one_event_sent_twice_with_the_same_id(
    app, client, make_user, subscribe, frozen, db
):
    clock = frozen(NOW)
    user = make_user()
    with running_receiver(script=[500]) as receiver:
        hook = subscribe(receiver.url, ["attendance.fever"], user.school_id)
        client.post("/api/attendances", json=event_body(user, temperature=38.5))
        receiver.wait_for(1)
        [row] = client.get(f"/api/webhooks/{hook['id']}/deliveries").json["data"]
        assert (row["status"], row["attempts"], row["last_status_code"]) == ("pending", 1, 500)
        assert row["next_attempt_at"] == "2026-11-23T09:00:10+00:00"
        with app.app_context():
            tick()  # not due yet: nothing is sent
        assert len(receiver.received) == 1
        clock.advance(10)
        with app.app_context():
            tick()
        got = receiver.wait_for(2)
    assert len(got) == 2
    first, second = got
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert first.body == second.body
    for r in got:
        verify(hook["secret"], r.headers, r.body, tolerance=None)
    [row] = client.get(f"/api/webhooks/{hook['id']}/deliveries").json["data"]
    assert (row["status"], row["attempts"], row["last_status_code"]) == ("delivered", 2, 200)


def test_retries_back_off_then_stop_and_three_days_of_failures_disable(
    app, client, make_user, subscribe, frozen, db
):
    clock = frozen(NOW)
    user = make_user()
    with running_receiver(default=503) as receiver:
        hook = subscribe(receiver.url, ["attendance.fever"], user.school_id)
        client.post("/api/attendances", json=event_body(user, temperature=38.5))
        waits = []
        for _ in range(12):
            [row] = client.get(f"/api/webhooks/{hook['id']}/deliveries").json["data"]
            if row["status"] != "pending":
                break
            due = dt.datetime.fromisoformat(row["next_attempt_at"])
            waits.append((due - clock.at).total_seconds())
            clock.at = due
            with app.app_context():
                tick()
        tries = len(receiver.received)
    assert waits[:4] == [10, 40, 160, 640]
    assert max(waits) == 12 * 3600
    assert row["status"] == "failed"
    assert tries == row["attempts"] == 9
    assert 20 * 3600 < sum(waits) < 36 * 3600  # about a day
    webhook = db.session.get(Webhook, hook["id"])
    assert webhook.failing_since == NOW and webhook.disabled_at is None
    # Another event, whose tries go on failing past three days since the first failure.
    clock.at = NOW + dt.timedelta(days=3, seconds=1)
    with running_receiver(default=500) as receiver:
        db.session.get(Webhook, hook["id"]).url = receiver.url
        db.session.commit()
        client.post("/api/attendances", json=event_body(user, temperature=38.6))
        receiver.wait_for(1)
    db.session.expire_all()
    listed = client.get("/api/webhooks").json["data"][0]
    assert listed["enabled"] is False and listed["disabled_at"] is not None
    rows = client.get(f"/api/webhooks/{hook['id']}/deliveries").json["data"]
    assert [r["status"] for r in rows] == ["failed", "failed"]
    # A disabled subscription gets no new events.
    client.post("/api/attendances", json=event_body(user, temperature=39.0))
    assert len(client.get(f"/api/webhooks/{hook['id']}/deliveries").json["data"]) == 2


def test_a_redirect_is_not_followed_and_a_network_error_is_retried(
    client, make_user, subscribe, frozen
):
    frozen(NOW)
    user = make_user()
    with (
        running_receiver(default=200) as target,
        running_receiver(
            default=302, headers_out={"Location": "http://127.0.0.1:1/"}
        ) as redirecting,
    ):
        target_url = target.url
        redirecting.headers_out["Location"] = target_url
        hook = subscribe(redirecting.url, ["attendance.fever"], user.school_id)
        client.post("/api/attendances", json=event_body(user, temperature=38.5))
        redirecting.wait_for(1)
        assert target.received == []
    [row] = client.get(f"/api/webhooks/{hook['id']}/deliveries").json["data"]
    assert (row["status"], row["last_status_code"]) == ("pending", 302)
    # Nothing listens there any more: a network error, retried later.
    with running_receiver() as gone:
        url = gone.url
    dead = subscribe(url, ["attendance.fever"], user.school_id)
    client.post("/api/attendances", json=event_body(user, temperature=38.7))
    [row] = client.get(f"/api/webhooks/{dead['id']}/deliveries").json["data"]
    assert row["status"] == "pending" and row["last_status_code"] is None
    assert "ConnectionRefusedError" in row["last_error"]


def test_redeliver_by_hand_sends_the_same_id_again(client, make_user, subscribe):
    user = make_user()
    with running_receiver() as receiver:
        hook = subscribe(receiver.url, ["attendance.fever"], user.school_id)
        client.post("/api/attendances", json=event_body(user, temperature=38.5))
        [delivered] = client.get(f"/api/webhooks/{hook['id']}/deliveries").json["data"]
        answer = client.post(f"/api/webhooks/{hook['id']}/deliveries/{delivered['id']}/redeliver")
        assert answer.status_code == 202
        got = receiver.wait_for(2)
    assert [r.headers["webhook-id"] for r in got] == [delivered["id"]] * 2
    [row] = client.get(f"/api/webhooks/{hook['id']}/deliveries").json["data"]
    assert (row["status"], row["attempts"]) == ("delivered", 2)
    missing = client.post(f"/api/webhooks/{hook['id']}/deliveries/msg_nope/redeliver")
    assert missing.status_code == 404


def test_a_try_lost_with_its_worker_is_made_again_with_the_same_id(
    app, client, make_user, subscribe, frozen, db
):
    clock = frozen(NOW)
    user = make_user()
    with running_receiver(script=[500]) as receiver:
        hook = subscribe(receiver.url, ["attendance.fever"], user.school_id)
        client.post("/api/attendances", json=event_body(user, temperature=38.5))
        receiver.wait_for(1)
        row = db.session.scalars(select(WebhookDelivery)).one()
        # A worker took the retry and died while sending: the row stays "sending".
        row.status, row.lease_until = "sending", NOW + dt.timedelta(seconds=50)
        db.session.commit()
        clock.advance(30)
        with app.app_context():
            tick()  # its lease has not passed: left alone
        assert len(receiver.received) == 1
        clock.advance(21)
        with app.app_context():
            tick()
        got = receiver.wait_for(2)
    assert [r.headers["webhook-id"] for r in got] == [row.id] * 2
    db.session.expire_all()
    assert db.session.get(WebhookDelivery, row.id).status == "delivered"
    assert hook["id"] == row.webhook_id


def test_a_redelivery_by_hand_is_tried_when_disabled_and_a_success_enables_again(
    client, make_user, subscribe, frozen, db
):
    clock = frozen(NOW)
    user = make_user()
    with running_receiver(default=500) as receiver:
        hook = subscribe(receiver.url, ["attendance.fever"], user.school_id)
        client.post("/api/attendances", json=event_body(user, temperature=38.5))
        receiver.wait_for(1)
        # Three days of failures have disabled it (as the test above reaches).
        webhook = db.session.get(Webhook, hook["id"])
        webhook.failing_since, webhook.disabled_at = NOW, NOW + dt.timedelta(days=3)
        db.session.commit()
        clock.at = NOW + dt.timedelta(days=3, hours=1)
        [row] = client.get(f"/api/webhooks/{hook['id']}/deliveries").json["data"]
        redeliver = f"/api/webhooks/{hook['id']}/deliveries/{row['id']}/redeliver"
        # The receiver still fails: the one try by hand is made, and that is all.
        assert client.post(redeliver).status_code == 202
        receiver.wait_for(2)
    db.session.expire_all()
    [row] = client.get(f"/api/webhooks/{hook['id']}/deliveries").json["data"]
    assert (row["status"], row["attempts"], row["last_status_code"]) == ("failed", 2, 500)
    assert client.get("/api/webhooks").json["data"][0]["enabled"] is False
    assert db.session.get(WebhookDelivery, row["id"]).by_hand is False
    # Mended: a try by hand gets through, and the subscription is enabled again.
    with running_receiver(default=200) as receiver:
        db.session.get(Webhook, hook["id"]).url = receiver.url
        db.session.commit()
        assert client.post(redeliver).status_code == 202
        [got] = receiver.wait_for(1)
        assert got.headers["webhook-id"] == row["id"]
        db.session.expire_all()
        [row] = client.get(f"/api/webhooks/{hook['id']}/deliveries").json["data"]
        assert (row["status"], row["attempts"]) == ("delivered", 3)
        listed = client.get("/api/webhooks").json["data"][0]
        assert listed["enabled"] is True and listed["disabled_at"] is None
        # New events are delivered again.
        client.post("/api/attendances", json=event_body(user, temperature=38.9))
        assert len(receiver.wait_for(2)) == 2


def test_a_disabled_subscriptions_delivery_is_not_tried_unless_sent_by_hand(
    app, client, make_user, subscribe, frozen, db
):
    clock = frozen(NOW)
    user = make_user()
    with running_receiver(default=500) as receiver:
        hook = subscribe(receiver.url, ["attendance.fever"], user.school_id)
        client.post("/api/attendances", json=event_body(user, temperature=38.5))
        receiver.wait_for(1)
        db.session.get(Webhook, hook["id"]).disabled_at = NOW
        db.session.commit()
        # Its next try falls due: not made for a disabled subscription.
        clock.at = NOW + dt.timedelta(minutes=5)
        with app.app_context():
            tick()
        assert len(receiver.received) == 1
    db.session.expire_all()
    [row] = client.get(f"/api/webhooks/{hook['id']}/deliveries").json["data"]
    assert (row["status"], row["attempts"]) == ("failed", 1)
