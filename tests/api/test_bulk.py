"""POST /api/attendances/bulk: offline devices send many events at once."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import func, select

from attendance.models import Attendance, DayVersion
from tests.conftest import event_body

URL = "/api/attendances/bulk"


def item(user, **overrides):
    return event_body(user, **{"timestamp": "2026-11-23T08:00:00Z", **overrides})


def rows(db):
    return db.session.scalar(select(func.count()).select_from(Attendance))


def test_every_status_in_order(client, make_user, db):
    user = make_user()
    stored = client.post("/api/attendances", json=item(user, client_event_id="old")).json["data"]
    batch = [
        item(user, client_event_id="a"),  # created
        {"attendance": item(user, client_event_id="b", type="checkout")},  # wrapped: created
        item(user, client_event_id="old"),  # stored before: duplicate
        item(user, client_event_id="a"),  # repeated within the batch: duplicate
        item(user, temperature=44),  # invalid (schema)
        item(user, user_id=999_999),  # invalid (service rule)
        item(user),  # no key: created
        "not an object",  # invalid
    ]
    resp = client.post(URL, json={"attendances": batch})
    assert resp.status_code == 200, resp.json
    data = resp.json["data"]
    assert (data["created"], data["duplicate"], data["invalid"]) == (3, 2, 3)
    results = data["results"]
    assert [r["index"] for r in results] == list(range(len(batch)))
    assert [r["status"] for r in results] == [
        "created",
        "created",
        "duplicate",
        "duplicate",
        "invalid",
        "invalid",
        "created",
        "invalid",
    ]
    assert results[2]["id"] == stored["id"]
    assert results[3]["id"] == results[0]["id"]
    assert results[4]["errors"] == {"temperature": ["must be between 28 and 43"]}
    assert results[5]["errors"] == {
        "user_id": [f"user 999999 does not exist in school {user.school_id}"]
    }
    assert "body" in results[7]["errors"]
    assert rows(db) == 4
    created = db.session.get(Attendance, results[1]["id"])
    assert created.type == "checkout" and created.idempotency_key == "b"
    assert created.timestamp == dt.datetime(2026, 11, 23, 8, tzinfo=dt.UTC)


def test_resending_the_whole_batch_is_all_duplicates(client, make_user, db):
    user = make_user()
    batch = [item(user, client_event_id=f"e{n}", temperature=36 + n / 10) for n in range(20)]
    first = client.post(URL, json={"attendances": batch}).json["data"]
    again = client.post(URL, json={"attendances": batch}).json["data"]
    assert first["created"] == 20 and again["duplicate"] == 20
    assert [r["id"] for r in first["results"]] == [r["id"] for r in again["results"]]
    assert rows(db) == 20


def test_same_rules_and_messages_as_one_post(client, make_school, make_user):
    user = make_user()
    other = make_school()
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=6)).isoformat()
    cases = [
        item(user, school_id=other.id),
        item(user, school_id=999_999),
        item(user, timestamp=later),
        item(user, timestamp="2026-11-23T08:00:00"),
        item(user, favourite_colour="blue"),
        {k: v for k, v in item(user).items() if k != "temperature"},
    ]
    bulk = client.post(URL, json={"attendances": cases}).json["data"]["results"]
    for case, result in zip(cases, bulk, strict=True):
        single = client.post("/api/attendances", json=case)
        assert single.status_code == 422
        assert result == {
            "index": result["index"],
            "status": "invalid",
            "errors": single.json["errors"],
        }


def test_archived_users_late_syncs_are_stored(client, make_user):
    """api.md: a pupil who has left keeps an enrolment there; their late events are stored."""
    user = make_user()
    client.delete(f"/api/users/{user.id}")
    result = client.post(URL, json={"attendances": [item(user)]}).json["data"]["results"][0]
    assert result["status"] == "created"


def test_timestamp_defaults_to_receipt(client, make_user, db):
    user = make_user()
    payload = item(user)
    del payload["timestamp"]
    before = dt.datetime.now(dt.UTC)
    ident = client.post(URL, json={"attendances": [payload]}).json["data"]["results"][0]["id"]
    assert before <= db.session.get(Attendance, ident).timestamp <= dt.datetime.now(dt.UTC)


def test_day_versions_bumped_once_per_local_date(client, make_school, make_user, db):
    school = make_school(timezone="Asia/Ho_Chi_Minh")
    user = make_user(school=school)
    stamps = [
        "2026-11-02T23:30:00Z",  # 3 Nov in Ho Chi Minh City
        "2026-11-03T01:00:00Z",  # 3 Nov
        "2026-11-03T16:59:00Z",  # 3 Nov, 23:59 local
        "2026-11-03T17:00:00Z",  # 4 Nov
    ]
    batch = [item(user, timestamp=t, client_event_id=t) for t in stamps]
    client.post(URL, json={"attendances": batch})
    versions = db.session.execute(select(DayVersion.day, DayVersion.version)).all()
    assert sorted(versions) == [(dt.date(2026, 11, 3), 1), (dt.date(2026, 11, 4), 1)]
    client.post(URL, json={"attendances": batch})  # all duplicates: nothing changed
    db.session.expire_all()
    versions = db.session.execute(select(DayVersion.day, DayVersion.version)).all()
    assert sorted(versions) == [(dt.date(2026, 11, 3), 1), (dt.date(2026, 11, 4), 1)]


def test_5000_items_pass_and_5001_are_refused(client, make_user, db):
    user = make_user()
    batch = [item(user, client_event_id=f"k{n}") for n in range(5000)]
    resp = client.post(URL, json={"attendances": batch})
    assert resp.status_code == 200 and resp.json["data"]["created"] == 5000
    resp = client.post(URL, json={"attendances": [*batch, item(user)]})
    assert resp.status_code == 422
    assert resp.json["errors"] == {"attendances": ["must hold from 1 to 5000 items"]}
    assert rows(db) == 5000


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"attendances": []},
        {"attendances": "many"},
        [{"user_id": 1}],
        {"attendances": [], "x": 1},
    ],
)
def test_malformed_batches_are_422(client, payload):
    resp = client.post(URL, json=payload)
    assert resp.status_code == 422
    assert "errors" in resp.json


def test_malformed_json_is_400(client):
    resp = client.post(URL, data="{nope", content_type="application/json")
    assert resp.status_code == 400


def test_body_limit_is_raised_for_this_route_only(client, make_user):
    user = make_user()
    image = "x" * 90_000
    batch = [item(user, image=image, client_event_id=f"p{n}") for n in range(30)]  # ~2.7 MB
    assert client.post(URL, json={"attendances": batch}).status_code == 200
    single = {"attendances": batch[:1], "pad": "x" * (3 * 1024 * 1024)}
    assert client.post("/api/attendances", json=single).status_code == 413


def test_body_over_the_bulk_limit_is_413(client, app, monkeypatch):
    monkeypatch.setitem(app.config, "BULK_MAX_CONTENT_LENGTH", 1000)
    resp = client.post(URL, json={"attendances": [{"pad": "x" * 2000}]})
    assert resp.status_code == 413
    assert resp.json == {"errors": {"detail": "Request Entity Too Large"}}


def test_concurrent_identical_batches_insert_once(app, client, make_user, db):
    user = make_user()
    batch = {"attendances": [item(user, client_event_id=f"c{n}") for n in range(200)]}
    auth = {"Authorization": client.environ_base["HTTP_AUTHORIZATION"]}
    db.session.commit()  # end the test's own transaction: SQLite would hold its lock
    answers: list[dict] = []
    barrier = threading.Barrier(6)

    def send():
        with app.test_client() as c:
            barrier.wait()
            answers.append(c.post(URL, json=batch, headers=auth).json["data"])

    threads = [threading.Thread(target=send) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(a["created"] for a in answers) == [0] * 5 + [200]
    ids = {tuple(r["id"] for r in a["results"]) for a in answers}
    assert len(ids) == 1
    assert rows(db) == 200


def test_documented_in_openapi(client):
    spec = client.get("/api/openapi.json").json
    post = spec["paths"]["/api/attendances/bulk"]["post"]
    body = spec["components"]["schemas"]["BulkIn"]["properties"]["attendances"]
    assert body["maxItems"] == 5000
    assert body["items"] == {"$ref": "#/components/schemas/AttendanceIn"}
    assert "200" in post["responses"]


def test_a_stored_key_is_a_duplicate(client, make_user, db):
    """On PostgreSQL the COPY finds the stored key (it is not looked up first)."""
    user = make_user()
    stored = client.post("/api/attendances", json=item(user, client_event_id="x")).json["data"]
    batch = [item(user, client_event_id="x"), item(user, client_event_id="y"), item(user)]
    batch.append(item(user, client_event_id="x", user_id=user.id + 1000))  # refused if new
    results = client.post(URL, json={"attendances": batch}).json["data"]["results"]
    assert [r["status"] for r in results] == ["duplicate", "created", "created", "duplicate"]
    assert results[0]["id"] == results[3]["id"] == stored["id"]
    assert rows(db) == 3


def test_each_result_names_its_own_record(client, make_user, db):
    """Keyed rows are inserted sorted by key, unkeyed ones after: ids still match items."""
    user = make_user()
    temperatures = [36 + n / 100 for n in range(40)]
    batch = [
        item(user, temperature=t, **({"client_event_id": f"z{40 - n}"} if n % 3 else {}))
        for n, t in enumerate(temperatures)
    ]
    results = client.post(URL, json={"attendances": batch}).json["data"]["results"]
    stored = [float(db.session.get(Attendance, r["id"]).temperature) for r in results]
    assert stored == temperatures


def test_a_device_records_for_its_own_school_only(client_as, make_school, make_user, db):
    mine, other = make_school(), make_school()
    me, stranger = make_user(school=mine), make_user(school=other)
    device = client_as("device", mine)
    ok = device.post(URL, json={"attendances": [item(me, client_event_id="m1")]})
    assert ok.status_code == 200 and ok.json["data"]["created"] == 1
    # One item of another school (or of none) and the whole batch is refused, as a
    # single POST would be, with the same words either way: nothing leaks.
    for foreign in (item(stranger), item(me, school_id=999_999)):
        batch = [item(me, client_event_id="m2"), foreign]
        resp = device.post(URL, json={"attendances": batch})
        assert resp.status_code == 403
        assert resp.json == {"errors": {"detail": "this token may not act for that school"}}
    assert rows(db) == 1


def test_a_token_is_required(anonymous):
    resp = anonymous.post(URL, json={"attendances": [{"user_id": 1}]})
    assert resp.status_code == 401
    assert "errors" in resp.json


def test_photos_are_stored_by_hash(client, make_user, db):
    from tests.security.images import data_uri, png

    photo = data_uri(png(seed=32))
    user = make_user()
    batch = [
        item(user, image=photo, client_event_id="p1"),
        item(user, image="gif", client_event_id="p2"),
    ]
    results = client.post(URL, json={"attendances": batch}).json["data"]["results"]
    assert results[0]["status"] == "created"
    assert results[1]["status"] == "invalid" and "image" in results[1]["errors"]
    stored = db.session.get(Attendance, results[0]["id"]).image
    assert stored.startswith("sha256:")
    assert client.get(f"/api/attendances/{results[0]['id']}/image").data == png(seed=32)
