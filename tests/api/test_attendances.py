"""Recording, listing and deleting attendance events."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import func, select

from attendance import clock
from attendance.models import Attendance, AttendanceKey, DayVersion
from tests.conftest import event_body as body


def test_record_bare_and_wrapped(client, make_user):
    user = make_user()
    resp = client.post("/api/attendances", json=body(user, timestamp="2026-11-23T08:00:00Z"))
    assert resp.status_code == 201
    data = resp.json["data"]
    assert resp.headers["Location"].endswith(f"/api/attendances/{data['id']}")
    assert data["timestamp"] == "2026-11-23T08:00:00+00:00"
    assert data["type"] == "checkin" and data["temperature"] == 36.6 and data["fever"] is False
    wrapped = client.post("/api/attendances", json={"attendance": body(user, type="checkout")})
    assert wrapped.status_code == 201
    assert wrapped.json["data"]["type"] == "checkout"


def test_timestamp_defaults_to_receipt_and_offsets_normalise(client, make_user):
    user = make_user()
    before = dt.datetime.now(dt.UTC)
    data = client.post("/api/attendances", json=body(user)).json["data"]
    stamp = dt.datetime.fromisoformat(data["timestamp"])
    assert before <= stamp <= dt.datetime.now(dt.UTC)
    data = client.post("/api/attendances", json=body(user, timestamp="2026-11-23T07:30:00+07:00"))
    assert data.json["data"]["timestamp"] == "2026-11-23T00:30:00+00:00"


def test_old_offline_events_are_accepted(client, make_user):
    user = make_user()
    old = (dt.datetime.now(dt.UTC) - dt.timedelta(days=40)).isoformat()
    assert client.post("/api/attendances", json=body(user, timestamp=old)).status_code == 201


def test_fever_flag_follows_school_threshold(client, make_school, make_user):
    school = make_school(fever_threshold=38)
    user = make_user(school=school)
    assert (
        client.post("/api/attendances", json=body(user, temperature=37.9)).json["data"]["fever"]
        is False
    )
    assert (
        client.post("/api/attendances", json=body(user, temperature=38)).json["data"]["fever"]
        is True
    )


@pytest.mark.parametrize("temperature", [28, 43, 36.55, "37.2"])
def test_temperature_in_range(client, make_user, temperature):
    assert (
        client.post("/api/attendances", json=body(make_user(), temperature=temperature)).status_code
        == 201
    )


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"temperature": 27.9}, "temperature", "must be between 28 and 43"),
        ({"temperature": 43.1}, "temperature", "must be between 28 and 43"),
        ({"temperature": "NaN"}, "temperature", None),
        ({"temperature": "hot"}, "temperature", None),
        ({"temperature": True}, "temperature", None),
        ({"temperature": 36.666}, "temperature", "must have at most 2 decimal places"),
        ({"temperature": None}, "temperature", None),
        ({"type": "lunch"}, "type", "must be checkin or checkout"),
        ({"type": 1}, "type", None),
        ({"user_id": "abc"}, "user_id", None),
        ({"user_id": 9999}, "user_id", "user 9999 does not exist in school"),
        ({"school_id": 9999}, "school_id", "school 9999 does not exist"),
        ({"timestamp": "2026-11-23T08:00:00"}, "timestamp", "UTC offset"),
        ({"timestamp": "yesterday"}, "timestamp", "UTC offset"),
        ({"timestamp": 1700000000}, "timestamp", None),
        ({"image": 5}, "image", None),
        ({"client_event_id": ""}, "client_event_id", None),
        ({"favourite_colour": "blue"}, "favourite_colour", None),
    ],
)
def test_validation_names_the_field(client, make_user, overrides, field, message):
    resp = client.post("/api/attendances", json=body(make_user(), **overrides))
    assert resp.status_code == 422, resp.json
    assert field in resp.json["errors"], resp.json
    if message:
        assert any(message in m for m in resp.json["errors"][field])


@pytest.mark.parametrize("field", ["user_id", "school_id", "type", "temperature"])
def test_required_fields(client, make_user, field):
    payload = body(make_user())
    del payload[field]
    resp = client.post("/api/attendances", json=payload)
    assert resp.status_code == 422
    assert field in resp.json["errors"]


def test_user_must_belong_to_school(client, make_school, make_user):
    user = make_user()
    other = make_school()
    resp = client.post("/api/attendances", json=body(user, school_id=other.id))
    assert resp.status_code == 422
    assert resp.json["errors"]["user_id"] == [f"user {user.id} does not exist in school {other.id}"]


def test_archived_users_late_sync_is_stored(client, make_user):
    """api.md: a device's late sync is never refused for a pupil who has since left."""
    user = make_user()
    client.delete(f"/api/users/{user.id}")
    yesterday = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).isoformat()
    resp = client.post("/api/attendances", json=body(user, timestamp=yesterday))
    assert resp.status_code == 201
    bulk = client.post("/api/attendances/bulk", json={"attendances": [body(user)]})
    assert bulk.json["data"]["results"][0]["status"] == "created", bulk.json


def test_moved_users_events_at_the_old_school_are_stored(client, make_school, make_user):
    old = make_school()
    user = make_user(school=old)
    new = make_school()
    client.patch(f"/api/users/{user.id}", json={"school_id": new.id})
    assert client.post("/api/attendances", json=body(user, school_id=old.id)).status_code == 201
    assert client.post("/api/attendances", json=body(user, school_id=new.id)).status_code == 201


def test_user_without_enrolment_at_the_school_is_refused(client, make_school, make_user):
    """Same message as for no such user, for one event and for a batch's item."""
    school = make_school()
    user = make_user(school=school, enrolled=False)
    message = [f"user {user.id} does not exist in school {school.id}"]
    resp = client.post("/api/attendances", json=body(user))
    assert resp.status_code == 422 and resp.json["errors"]["user_id"] == message
    bulk = client.post("/api/attendances/bulk", json={"attendances": [body(user)]})
    assert bulk.json["data"]["results"][0]["errors"] == {"user_id": message}
    resp = client.post("/api/attendances", json=body(user, user_id=99999))
    assert resp.json["errors"]["user_id"] == [f"user 99999 does not exist in school {school.id}"]


def test_future_timestamps(client, make_user):
    user = make_user()
    soon = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=4)).isoformat()
    late = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=6)).isoformat()
    assert client.post("/api/attendances", json=body(user, timestamp=soon)).status_code == 201
    resp = client.post("/api/attendances", json=body(user, timestamp=late))
    assert resp.status_code == 422
    assert "future" in resp.json["errors"]["timestamp"][0]


def test_malformed_json_is_400(client):
    resp = client.post("/api/attendances", data="{not json", content_type="application/json")
    assert resp.status_code == 400
    assert "errors" in resp.json


@pytest.mark.parametrize("payload", ["[1, 2]", '"text"', "null", "42"])
def test_non_object_body_is_4xx(client, payload):
    resp = client.post("/api/attendances", data=payload, content_type="application/json")
    assert resp.status_code in (400, 422)
    assert "errors" in resp.json


def test_oversized_body_is_413(client, make_user):
    resp = client.post("/api/attendances", json=body(make_user(), image="x" * (3 * 1024 * 1024)))
    assert resp.status_code == 413
    assert resp.json == {"errors": {"detail": "Request Entity Too Large"}}


def test_idempotency_header(client, make_user, db):
    user = make_user()
    headers = {"Idempotency-Key": "gate-1-0001"}
    first = client.post("/api/attendances", json=body(user), headers=headers)
    second = client.post("/api/attendances", json=body(user), headers=headers)
    assert first.status_code == 201 and second.status_code == 200
    assert first.json["data"]["id"] == second.json["data"]["id"]
    assert db.session.scalar(select(func.count()).select_from(Attendance)) == 1


def test_idempotency_field_and_scope(client, make_school, make_user, db):
    user = make_user()
    other_user = make_user(school=make_school())
    first = client.post("/api/attendances", json=body(user, client_event_id="e1"))
    again = client.post("/api/attendances", json={"attendance": body(user, client_event_id="e1")})
    other = client.post("/api/attendances", json=body(other_user, client_event_id="e1"))
    assert (first.status_code, again.status_code, other.status_code) == (201, 200, 201)
    assert first.json["data"]["id"] == again.json["data"]["id"] != other.json["data"]["id"]
    assert first.json["data"]["client_event_id"] == "e1"


def test_idempotency_race(app, client, make_user, db):
    payload = body(make_user())
    auth = client.environ_base["HTTP_AUTHORIZATION"]
    db.session.commit()  # end the test's own transaction: SQLite would hold its lock
    results: list[tuple[int, int]] = []
    barrier = threading.Barrier(8)

    def send():
        with app.test_client() as c:
            barrier.wait()
            headers = {"Idempotency-Key": "race", "Authorization": auth}
            r = c.post("/api/attendances", json=payload, headers=headers)
            results.append((r.status_code, r.json["data"]["id"]))

    threads = [threading.Thread(target=send) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(code for code, _ in results) == [200] * 7 + [201]
    assert len({ident for _, ident in results}) == 1
    assert db.session.scalar(select(func.count()).select_from(Attendance)) == 1


def test_list_filters(client, make_school, make_user, make_event):
    school = make_school()
    a, b = make_user(school=school), make_user(school=school)
    t0 = dt.datetime(2026, 11, 23, 8, tzinfo=dt.UTC)
    make_event(user=a, timestamp=t0)
    make_event(user=a, timestamp=t0 + dt.timedelta(hours=5), type="checkout")
    make_event(user=b, timestamp=t0 + dt.timedelta(days=1))
    make_event()  # another school

    def ids(query):
        return [e["id"] for e in client.get(f"/api/attendances?{query}").json["data"]]

    assert len(ids(f"school_id={school.id}")) == 3
    assert len(ids(f"user_id={a.id}")) == 2
    assert len(ids(f"school_id={school.id}&type=checkout")) == 1
    assert len(ids("from=2026-11-23T12:00:00Z&to=2026-11-24T08:00:00Z")) == 2
    assert client.get("/api/attendances?from=2026-11-23T12:00:00").status_code == 422
    assert client.get("/api/attendances?type=nap").status_code == 422


def test_show_and_delete(client, make_event, db):
    event = make_event()
    assert client.get(f"/api/attendances/{event.id}").json["data"]["id"] == event.id
    assert client.delete(f"/api/attendances/{event.id}").status_code == 204
    assert client.get(f"/api/attendances/{event.id}").status_code == 404
    assert client.delete(f"/api/attendances/{event.id}").status_code == 404


def test_changes_bump_the_local_day_version(client, make_school, make_user, db):
    school = make_school(timezone="Asia/Ho_Chi_Minh")
    user = make_user(school=school)
    resp = client.post("/api/attendances", json=body(user, timestamp="2026-11-02T23:30:00Z"))
    version = db.session.get(DayVersion, (school.id, dt.date(2026, 11, 3)))
    assert version is not None and version.version == 1
    client.delete(f"/api/attendances/{resp.json['data']['id']}")
    db.session.expire_all()
    assert db.session.get(DayVersion, (school.id, dt.date(2026, 11, 3))).version == 2


def test_a_check_in_as_it_happens_bumps_no_day_version(client, make_user, db, monkeypatch):
    """Figures are cached only for days that are over: today's version has no reader."""
    user = make_user()  # a UTC school
    # Mid-day, so that the day is not ending inside the margin whenever the suite runs.
    monkeypatch.setattr(clock, "now", lambda: dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC))
    resp = client.post("/api/attendances", json=body(user))
    assert resp.status_code == 201
    assert db.session.scalar(select(func.count()).select_from(DayVersion)) == 0


def test_a_late_event_bumps_its_day_even_just_before_midnight(client, make_user, db, monkeypatch):
    user = make_user()  # a UTC school
    almost_midnight = dt.datetime(2026, 11, 23, 23, 55, tzinfo=dt.UTC)
    monkeypatch.setattr(clock, "now", lambda: almost_midnight)
    stamp = "2026-11-23T23:54:00Z"  # today, but the day ends inside the margin
    assert client.post("/api/attendances", json=body(user, timestamp=stamp)).status_code == 201
    assert db.session.get(DayVersion, (user.school_id, dt.date(2026, 11, 23))).version == 1


def test_a_refused_event_leaves_no_photo_behind(client, make_user, app):
    from pathlib import Path

    from tests.security.images import data_uri, png

    photo = data_uri(png(seed=40))
    files = Path(app.config["IMAGE_STORAGE_DIR"])
    before = set(files.rglob("*"))
    user = make_user()
    refused = client.post("/api/attendances", json=body(user, user_id=999_999, image=photo))
    assert refused.status_code == 422
    assert set(files.rglob("*")) == before
    first = client.post("/api/attendances", json=body(user, image=photo, client_event_id="p"))
    assert first.status_code == 201
    stored = client.get(f"/api/attendances/{first.json['data']['id']}/image")
    assert stored.data == png(seed=40)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ('{"user_id": 1e999999, "school_id": 1, "type": "checkin"}', "user_id"),
        ('{"user_id": 123456789012345678901234567890, "school_id": 1, "type": "checkin"}', None),
        ('{"user_id": NaN, "school_id": 1, "type": "checkin"}', "user_id"),
        ('{"user_id": 1, "school_id": 1, "type": "\\ud800"}', "type"),
    ],
)
def test_bodies_only_the_standard_parser_takes_are_validated_not_refused(client, body, field):
    # The fast parser (orjson) refuses these; the standard library's reading of them goes
    # on to validation, as it always did: 4xx naming the field, never 400 or 500.
    resp = client.post("/api/attendances", data=body, headers={"Content-Type": "application/json"})
    assert 400 < resp.status_code < 500, resp.get_data(as_text=True)
    if field:
        assert field in resp.get_data(as_text=True)


def test_deleting_an_event_frees_its_key(client, make_user, db):
    """A retry after a delete stores the event again, as before the keys had a table."""
    user = make_user()
    sent = body(user, client_event_id="again")
    first = client.post("/api/attendances", json=sent).json["data"]["id"]
    assert client.delete(f"/api/attendances/{first}").status_code == 204
    assert db.session.scalar(select(AttendanceKey)) is None
    second = client.post("/api/attendances", json=sent)
    assert second.status_code == 201  # a new event (SQLite may give it the freed id)
    assert db.session.scalar(select(func.count()).select_from(Attendance)) == 1
    key = db.session.scalar(select(AttendanceKey))
    assert (key.attendance_id, key.idempotency_key) == (second.json["data"]["id"], "again")


def test_a_key_whose_event_is_gone_is_free_again(client, make_user, db):
    """Events deleted together (every deletion goes through `delete_events`) take their
    keys with them: a retry stores the event again, one at a time or in a batch, as it
    did when the key was a column of the event. Another school's keys stay."""
    from attendance.services.attendances import delete_events

    user, other = make_user(), make_user()
    one = body(user, client_event_id="lost-1", timestamp="2026-11-20T08:00:00Z")
    two = body(user, client_event_id="lost-2", timestamp="2026-11-20T09:00:00Z")
    kept = body(other, client_event_id="lost-1", timestamp="2026-11-20T08:00:00Z")
    assert client.post("/api/attendances", json=one).status_code == 201
    assert client.post("/api/attendances/bulk", json={"attendances": [two]}).status_code == 200
    assert client.post("/api/attendances", json=kept).status_code == 201
    assert delete_events(Attendance.school_id == user.school_id) == 2
    db.session.commit()
    left = db.session.execute(select(AttendanceKey.school_id, AttendanceKey.idempotency_key))
    assert left.all() == [(other.school_id, "lost-1")]

    again = client.post("/api/attendances", json=one)
    batch = client.post("/api/attendances/bulk", json={"attendances": [two, two]})
    assert again.status_code == 201
    results = batch.json["data"]["results"]
    assert [r["status"] for r in results] == ["created", "duplicate"]
    stored = db.session.scalars(select(Attendance).order_by(Attendance.id)).all()
    keys = dict(
        db.session.execute(select(AttendanceKey.idempotency_key, AttendanceKey.attendance_id)).all()
    )
    assert keys == {e.idempotency_key: e.id for e in stored}
    assert keys == {"lost-1": again.json["data"]["id"], "lost-2": results[0]["id"]}
