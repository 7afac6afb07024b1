"""Roll calls (api.md "Roll calls"): start, the expected list, ticks, reconciling, closing."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from attendance import clock
from attendance.models import Mark, RollCallEntry
from attendance.services import roll_calls as service

# Friday 2026-11-27 in a UTC school, 10:00.
NOW = dt.datetime(2026, 11, 27, 10, tzinfo=dt.UTC)


def at(hour: int, minute: int = 0, day: int = 27) -> dt.datetime:
    return dt.datetime(2026, 11, day, hour, minute, tzinfo=dt.UTC)


def iso(instant: dt.datetime) -> str:
    return instant.isoformat().replace("+00:00", "Z")


@pytest.fixture
def now(monkeypatch):
    """The clock, set to NOW; `now.set(instant)` moves it."""

    class Clock:
        instant = NOW

        def set(self, instant: dt.datetime) -> None:
            self.instant = instant

    fixed = Clock()
    monkeypatch.setattr(clock, "now", lambda: fixed.instant)
    return fixed


@pytest.fixture
def school(make_school):
    return make_school(name="Hillside")


@pytest.fixture
def pupil(make_user, make_event, school):
    """`pupil(name, *events)`: a pupil of the school with (type, instant) events."""

    def make(name: str, *events: tuple[str, dt.datetime], **fields):
        user = make_user(name=name, school=school, **fields)
        for kind, instant in events:
            make_event(user=user, type=kind, timestamp=instant)
        return user

    return make


def ids(people: list[dict]) -> list[int]:
    return [p["user_id"] for p in people]


def start(client, school) -> dict:
    resp = client.post(f"/api/schools/{school.id}/roll-calls")
    assert resp.status_code == 201, resp.json
    return resp.json["data"]


def tick(client, roll_call: dict, user, key: str, **fields):
    body = {"user_id": user.id, "client_event_id": key, **fields}
    return client.post(f"/api/roll-calls/{roll_call['id']}/accounted", json=body)


def show(client, roll_call: dict, query: str = "") -> dict:
    resp = client.get(f"/api/roll-calls/{roll_call['id']}{query}")
    assert resp.status_code == 200, resp.json
    return resp.json["data"]


# -- starting: the expected list -------------------------------------------------------------


def test_the_expected_list_is_who_is_checked_in_now(client, now, pupil, school):
    inside = pupil("Ada", ("checkin", at(8)), group="5B", external_id="P1")
    pupil("Gone", ("checkin", at(8)), ("checkout", at(9)))
    pupil("Yesterday", ("checkin", at(8, day=26)))  # unclosed yesterday: not in now
    pupil("Later", ("checkin", at(11)))  # after now: not counted
    back = pupil("Back", ("checkin", at(8)), ("checkout", at(9)), ("checkin", at(9, 30)))
    rc = start(client, school)
    assert rc["status"] == "open" and rc["school_id"] == school.id
    assert rc["started_at"] == "2026-11-27T10:00:00+00:00"
    assert ids(rc["expected"]) == ids(rc["missing"])
    assert set(ids(rc["expected"])) == {inside.id, back.id}
    assert rc["counts"] == {"expected": 2, "accounted": 0, "missing": 2, "unexpected": 0, "left": 0}
    ada = next(p for p in rc["expected"] if p["user_id"] == inside.id)
    assert ada == {"user_id": inside.id, "name": "Ada", "group": "5B", "external_id": "P1"}


def test_day_end_closes_forgotten_sessions_before_the_roll_call(client, now, pupil, school, db):
    school.day_end = dt.time(16)
    db.session.commit()
    pupil("Forgot", ("checkin", at(8)))
    late = pupil("Evening", ("checkin", at(17)))  # opened after day_end: still in
    now.set(at(18))
    rc = start(client, school)
    assert ids(rc["expected"]) == [late.id]


def test_only_pupils_enrolled_today_are_expected(client, now, pupil, school):
    pupil("Left", ("checkin", at(8)), enrolled_until=dt.date(2026, 11, 26))
    stays = pupil("Stays", ("checkin", at(8)))
    rc = start(client, school)
    assert ids(rc["expected"]) == [stays.id]


def test_a_second_start_answers_the_open_one(client, now, pupil, school):
    pupil("Ada", ("checkin", at(8)))
    first = start(client, school)
    again = client.post(f"/api/schools/{school.id}/roll-calls")
    assert again.status_code == 200
    assert again.json["data"]["id"] == first["id"]
    assert again.headers["Location"].endswith(f"/api/roll-calls/{first['id']}")
    client.post(f"/api/roll-calls/{first['id']}/close")
    assert start(client, school)["id"] != first["id"]


def test_the_expected_list_is_fixed_at_the_start(client, now, pupil, school, make_event):
    ada = pupil("Ada", ("checkin", at(8)))
    rc = start(client, school)
    pupil("Newcomer", ("checkin", at(9, 59)))
    now.set(at(10, 5))
    assert ids(show(client, rc)["expected"]) == [ada.id]


# -- ticks -----------------------------------------------------------------------------------


def test_a_tick_accounts_for_a_pupil_and_a_retry_adds_nothing(client, now, pupil, school, db):
    ada = pupil("Ada", ("checkin", at(8)))
    bob = pupil("Bob", ("checkin", at(8)))
    rc = start(client, school)
    first = tick(client, rc, ada, "phone1-1", at="2026-11-27T10:01:00Z")
    assert first.status_code == 201
    entry = first.json["data"]
    assert entry == {
        "id": entry["id"],
        "user_id": ada.id,
        "client_event_id": "phone1-1",
        "at": "2026-11-27T10:01:00+00:00",
        "undo": False,
    }
    again = tick(client, rc, ada, "phone1-1", at="2026-11-27T10:01:00Z")
    assert again.status_code == 200 and again.json["data"] == entry
    assert (
        db.session.scalar(select(RollCallEntry.id).where(RollCallEntry.user_id == bob.id)) is None
    )
    doc = show(client, rc)
    assert ids(doc["accounted"]) == [ada.id] and ids(doc["missing"]) == [bob.id]
    assert doc["counts"]["accounted"] == 1 and doc["counts"]["missing"] == 1


def test_at_defaults_to_the_time_received(client, now, pupil, school):
    ada = pupil("Ada", ("checkin", at(8)))
    rc = start(client, school)
    now.set(at(10, 3))
    assert tick(client, rc, ada, "k").json["data"]["at"] == "2026-11-27T10:03:00+00:00"


def test_a_list_of_ticks_from_a_phone_that_was_offline(client, now, pupil, school, db):
    ada, bob = pupil("Ada", ("checkin", at(8))), pupil("Bob", ("checkin", at(8)))
    rc = start(client, school)
    tick(client, rc, ada, "a-1")
    batch = {
        "accounted": [
            {"user_id": ada.id, "client_event_id": "a-1"},  # sent before
            {"user_id": bob.id, "client_event_id": "b-1", "at": "2026-11-27T10:02:00Z"},
            {"user_id": bob.id, "client_event_id": "b-1", "at": "2026-11-27T10:02:00Z"},
        ]
    }
    resp = client.post(f"/api/roll-calls/{rc['id']}/accounted", json=batch)
    assert resp.status_code == 201
    answered = resp.json["data"]
    assert [e["client_event_id"] for e in answered] == ["a-1", "b-1", "b-1"]
    assert answered[1] == answered[2]
    resend = client.post(f"/api/roll-calls/{rc['id']}/accounted", json=batch)
    assert resend.status_code == 200 and resend.json["data"] == answered
    assert len(db.session.scalars(select(RollCallEntry)).all()) == 2
    assert show(client, rc)["counts"]["missing"] == 0


def test_undo_is_an_entry_and_the_latest_at_decides(client, now, pupil, school, db):
    ada = pupil("Ada", ("checkin", at(8)))
    rc = start(client, school)
    tick(client, rc, ada, "t1", at="2026-11-27T10:01:00Z")
    undo = tick(client, rc, ada, "u1", at="2026-11-27T10:02:00Z", undo=True)
    assert undo.status_code == 201 and undo.json["data"]["undo"] is True
    assert ids(show(client, rc)["missing"]) == [ada.id]
    # A phone that was offline sends an older tick late: the undo, later, still decides.
    tick(client, rc, ada, "t0", at="2026-11-27T10:00:30Z")
    assert ids(show(client, rc)["missing"]) == [ada.id]
    tick(client, rc, ada, "t2", at="2026-11-27T10:03:00Z")
    doc = show(client, rc, "?entries=true")
    assert ids(doc["accounted"]) == [ada.id]
    assert [(e["client_event_id"], e["undo"]) for e in doc["entries"]] == [
        ("t0", False),
        ("t1", False),
        ("u1", True),
        ("t2", False),
    ]


def test_unexpected_and_left_and_missing(client, now, pupil, school, make_event):
    ada = pupil("Ada", ("checkin", at(8)), group="5A")
    bob = pupil("Bob", ("checkin", at(8)), group="5B")
    missed = pupil("Missed", group="5A")  # the gate reader did not see them come in
    rc = start(client, school)
    make_event(user=bob, type="checkout", timestamp=at(10, 1))
    now.set(at(10, 5))
    tick(client, rc, ada, "1")
    tick(client, rc, missed, "2")
    doc = show(client, rc)
    assert ids(doc["accounted"]) == [ada.id, missed.id]
    assert ids(doc["unexpected"]) == [missed.id]
    assert ids(doc["missing"]) == [bob.id]
    assert ids(doc["left"]) == [bob.id]
    assert doc["counts"] == {
        "expected": 2,
        "accounted": 2,
        "missing": 1,
        "unexpected": 1,
        "left": 1,
    }


def test_a_pupil_who_came_back_has_not_left(client, now, pupil, school, make_event):
    bob = pupil("Bob", ("checkin", at(8)))
    rc = start(client, school)
    make_event(user=bob, type="checkout", timestamp=at(10, 1))
    make_event(user=bob, type="checkin", timestamp=at(10, 2))
    now.set(at(10, 5))
    assert show(client, rc)["left"] == []


def test_the_unexpected_pupil_gets_a_present_mark_through_the_marks_api(
    client, now, pupil, school, db
):
    missed = pupil("Missed")
    rc = start(client, school)
    tick(client, rc, missed, "1")
    resp = client.post(
        f"/api/schools/{school.id}/marks",
        json={
            "user_id": missed.id,
            "date": "2026-11-27",
            "status": "present",
            "reason": "roll call",
        },
    )
    assert resp.status_code == 201
    assert db.session.scalar(select(Mark.reason).where(Mark.user_id == missed.id)) == "roll call"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"client_event_id": "k"}, "user_id"),
        ({"user_id": 1}, "client_event_id"),
        ({"user_id": 1, "client_event_id": ""}, "client_event_id"),
        ({"user_id": 1, "client_event_id": "k", "at": "2026-11-27T10:00:00"}, "at"),
        ({"user_id": 1, "client_event_id": "k", "undo": "yes"}, "undo"),
        ({"user_id": True, "client_event_id": "k"}, "user_id"),
        ({"accounted": []}, "accounted"),
        ({"accounted": [{"user_id": 1}]}, "accounted"),
        ({"accounted": [{"user_id": 1, "client_event_id": "k"}], "user_id": 1}, "user_id"),
        ({"user_id": 1, "client_event_id": "k", "colour": "red"}, "colour"),
    ],
)
def test_bad_ticks_are_422_naming_the_field(client, now, pupil, school, body, field):
    pupil("Ada", ("checkin", at(8)))
    rc = start(client, school)
    resp = client.post(f"/api/roll-calls/{rc['id']}/accounted", json=body)
    assert resp.status_code == 422, resp.json
    assert field in resp.json["errors"]


def test_a_pupil_of_another_school_or_none_is_422_and_nothing_lands(
    client, now, pupil, school, make_user, db
):
    ada = pupil("Ada", ("checkin", at(8)))
    stranger = make_user(name="Elsewhere")
    rc = start(client, school)
    resp = tick(client, rc, stranger, "k")
    assert resp.status_code == 422 and "user_id" in resp.json["errors"]
    batch = {
        "accounted": [
            {"user_id": ada.id, "client_event_id": "ok"},
            {"user_id": 999999, "client_event_id": "bad"},
        ]
    }
    resp = client.post(f"/api/roll-calls/{rc['id']}/accounted", json=batch)
    assert resp.status_code == 422 and "accounted" in resp.json["errors"]
    assert db.session.scalars(select(RollCallEntry)).all() == []


def test_a_tick_stamped_in_the_future_is_422(client, now, pupil, school):
    ada = pupil("Ada", ("checkin", at(8)))
    rc = start(client, school)
    resp = tick(client, rc, ada, "k", at="2026-11-27T10:06:00Z")
    assert resp.status_code == 422 and "at" in resp.json["errors"]
    assert tick(client, rc, ada, "k", at="2026-11-27T10:04:59Z").status_code == 201


# -- closing, the record ---------------------------------------------------------------------


def test_a_closed_roll_call_refuses_ticks_and_stays_readable(client, now, pupil, school):
    ada, bob = pupil("Ada", ("checkin", at(8))), pupil("Bob", ("checkin", at(8)))
    rc = start(client, school)
    tick(client, rc, ada, "a")
    now.set(at(10, 20))
    closed = client.post(f"/api/roll-calls/{rc['id']}/close")
    assert closed.status_code == 200
    doc = closed.json["data"]
    assert doc["status"] == "closed" and doc["closed_at"] == "2026-11-27T10:20:00+00:00"
    refused = tick(client, rc, bob, "b")
    assert refused.status_code == 409 and "detail" in refused.json["errors"]
    # A phone resending what landed before the close learns that it landed.
    assert tick(client, rc, ada, "a").status_code == 200
    again = client.post(f"/api/roll-calls/{rc['id']}/close").json["data"]
    assert again["closed_at"] == doc["closed_at"]
    assert show(client, rc)["counts"] == doc["counts"]


def test_left_stops_at_the_close(client, now, pupil, school, make_event):
    bob = pupil("Bob", ("checkin", at(8)))
    rc = start(client, school)
    now.set(at(10, 10))
    client.post(f"/api/roll-calls/{rc['id']}/close")
    make_event(user=bob, type="checkout", timestamp=at(10, 30))
    now.set(at(11))
    assert show(client, rc)["left"] == []


def test_the_school_lists_its_roll_calls_newest_first(client, now, pupil, school):
    pupil("Ada", ("checkin", at(8)))
    first = start(client, school)
    client.post(f"/api/roll-calls/{first['id']}/close")
    now.set(at(11))
    second = start(client, school)
    resp = client.get(f"/api/schools/{school.id}/roll-calls")
    assert resp.status_code == 200
    listed = resp.json["data"]
    assert [r["id"] for r in listed] == [second["id"], first["id"]]
    assert [r["status"] for r in listed] == ["open", "closed"]
    assert listed[0]["counts"]["expected"] == 1 and "missing" not in listed[0]
    assert resp.json["meta"]["total"] == 2


# -- who may ---------------------------------------------------------------------------------


def test_staff_tokens_account_and_read_and_nothing_else(client_as, now, pupil, school, make_school):
    ada = pupil("Ada", ("checkin", at(8)))
    admin = client_as("school", school)
    staff = client_as("staff", school)
    assert staff.post(f"/api/schools/{school.id}/roll-calls").status_code == 403
    rc = start(admin, school)
    assert tick(staff, rc, ada, "s-1").status_code == 201
    assert staff.get(f"/api/roll-calls/{rc['id']}").status_code == 200
    assert staff.get(f"/api/schools/{school.id}/roll-calls").status_code == 200
    assert staff.post(f"/api/roll-calls/{rc['id']}/close").status_code == 403
    for path in (f"/api/schools/{school.id}", "/api/users", f"/api/schools/{school.id}/marks"):
        assert staff.get(path).status_code == 403, path
    other = client_as("staff", make_school(name="Other"))
    assert other.get(f"/api/roll-calls/{rc['id']}").status_code == 404
    assert tick(other, rc, ada, "o-1").status_code == 404
    device = client_as("device", school)
    assert tick(device, rc, ada, "d-1").status_code == 403


def test_entries_record_who_made_them(client_as, now, pupil, school, db):
    ada = pupil("Ada", ("checkin", at(8)))
    rc = start(client_as("school", school), school)
    tick(client_as("staff", school), rc, ada, "s-1")
    entry = db.session.scalars(select(RollCallEntry)).one()
    assert entry.created_by.startswith("token:") and entry.received_at == NOW


def test_one_open_roll_call_per_school_is_kept_by_the_database(db, now, pupil, school):
    pupil("Ada", ("checkin", at(8)))
    from sqlalchemy.exc import IntegrityError

    from attendance.models import RollCall

    first, created = service.start(school, "admin:1")
    db.session.commit()
    assert created
    db.session.add(RollCall(school_id=school.id, started_by="admin:1"))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_start_and_close_take_no_body_or_an_empty_one(client, now, pupil, school):
    pupil("Ada", ("checkin", at(8)))
    assert client.post(f"/api/schools/{school.id}/roll-calls", json={}).status_code == 201
    bad = client.post(f"/api/schools/{school.id}/roll-calls", json={"name": "drill"})
    assert bad.status_code == 422 and "name" in bad.json["errors"]
    rc = client.get(f"/api/schools/{school.id}/roll-calls").json["data"][0]
    assert client.post(f"/api/roll-calls/{rc['id']}/close").status_code == 200
    broken = client.post(
        f"/api/roll-calls/{rc['id']}/close", data="{", content_type="application/json"
    )
    assert broken.status_code == 400
