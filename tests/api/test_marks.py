"""Marks (presence.md 3, api.md "Marks"): the service, its invalidation, and the routes."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from attendance.models import Closure, DayVersion, Mark
from attendance.services import ServiceError
from attendance.services import marks as service

D = dt.date
NOW = dt.datetime(2026, 11, 27, 10, tzinfo=dt.UTC)  # Friday
TODAY = D(2026, 11, 27)


def versions(db, school_id: int) -> dict[dt.date, int]:
    rows = db.session.execute(
        select(DayVersion.day, DayVersion.version).where(DayVersion.school_id == school_id)
    )
    return dict(rows.all())


def mark(user, **fields):
    return {"user_id": user.id, "status": "absent", "reason": "ill", **fields}


# -- the service -----------------------------------------------------------------------------


def test_a_mark_bumps_its_date_today_and_future_included(db, make_user):
    user = make_user()
    school = user.school
    gen = school.generation
    for day in (D(2026, 11, 23), TODAY, D(2026, 12, 2)):
        service.record(school, mark(user, date=day), "token:1", NOW)
    assert versions(db, school.id) == {D(2026, 11, 23): 1, TODAY: 1, D(2026, 12, 2): 1}
    entry = service.record(school, mark(user, date=TODAY), "token:1", NOW)[0]
    service.clear(entry, "admin:2")
    assert versions(db, school.id)[TODAY] == 3
    db.session.refresh(school)
    assert school.generation == gen


def test_a_range_marks_each_school_day_and_bumps_each(db, make_user):
    user = make_user(enrolled_until=D(2026, 12, 3))
    school = user.school
    db.session.add(Closure(school_id=school.id, date=D(2026, 12, 1)))
    db.session.flush()
    created = service.record(
        school, mark(user, from_=D(2026, 11, 27), to=D(2026, 12, 6)), "token:1", NOW
    )
    days = [D(2026, 11, 27), D(2026, 11, 30), D(2026, 12, 2), D(2026, 12, 3)]
    assert [m.date for m in created] == days
    assert versions(db, school.id) == dict.fromkeys(days, 1)


def test_effective_marks_and_history(db, make_user):
    user = make_user()
    school = user.school
    first = service.record(school, mark(user, date=D(2026, 11, 23)), "token:1", NOW)[0]
    second = service.record(
        school, mark(user, date=D(2026, 11, 23), status="present"), "token:1", NOW
    )[0]
    other_day = service.record(school, mark(user, date=D(2026, 11, 24)), "token:1", NOW)[0]
    effective = db.session.scalars(service.listed(school.id, {})).all()
    assert [m.id for m in effective] == [second.id, other_day.id]
    cleared = service.clear(first, "token:1")
    assert cleared is not None and cleared.status == "cleared" and cleared.date == first.date
    assert service.clear(first, "token:1") is None  # cleared already: nothing appended
    effective = db.session.scalars(service.listed(school.id, {})).all()
    assert [m.id for m in effective] == [other_day.id]
    history = db.session.scalars(service.listed(school.id, {"history": True})).all()
    assert [m.status for m in history] == ["absent", "present", "absent", "cleared"]
    # A new mark after a clearing is effective again.
    again = service.record(school, mark(user, date=D(2026, 11, 23)), "token:1", NOW)[0]
    effective = db.session.scalars(service.listed(school.id, {"to": D(2026, 11, 23)})).all()
    assert [m.id for m in effective] == [again.id]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"date": D(2026, 11, 28), "status": "present"}, "date"),
        ({"from_": D(2026, 11, 23), "to": D(2026, 11, 30), "status": "present"}, "to"),
        ({"date": D(2026, 11, 2), "excused": True, "status": "present"}, "excused"),
        ({"date": D(2026, 10, 30)}, "date"),  # before the enrolment
        ({"from_": D(2026, 11, 20), "to": D(2026, 11, 19)}, "to"),
        ({"from_": D(2026, 11, 2), "to": D(2027, 11, 3)}, "to"),
        ({"from_": D(2026, 11, 28), "to": D(2026, 11, 29)}, "from"),  # a weekend
        ({"from_": D(2026, 10, 1), "to": D(2026, 10, 30)}, "from"),  # before the enrolment
        ({}, "date"),
        ({"date": D(2026, 11, 2), "from_": D(2026, 11, 2), "to": D(2026, 11, 2)}, "date"),
        ({"from_": D(2026, 11, 2)}, "to"),
    ],
)
def test_refusals_name_the_field(db, make_user, fields, field):
    user = make_user(enrolled_from=D(2026, 11, 2))
    with pytest.raises(ServiceError) as error:
        service.record(user.school, mark(user, **fields), "token:1", NOW)
    assert error.value.field == field
    assert db.session.scalars(select(Mark)).all() == []


def test_absent_marks_may_be_planned_present_ones_not(db, make_user):
    user = make_user()
    planned = service.record(user.school, mark(user, date=D(2026, 12, 1)), "token:1", NOW)
    assert planned[0].status == "absent"
    assert service.record(user.school, mark(user, date=TODAY, status="present"), "t", NOW)


def test_another_schools_user_looks_like_no_user(db, make_school, make_user):
    user = make_user()
    other = make_school()
    messages = set()
    for ident in (user.id, 99999):
        with pytest.raises(ServiceError) as error:
            service.record(other, {**mark(user, date=TODAY), "user_id": ident}, "t", NOW)
        assert error.value.field == "user_id"
        messages.add(error.value.message.replace(str(ident), "N"))
    assert len(messages) == 1


# -- the routes ------------------------------------------------------------------------------


def url(school_id: int, suffix: str = "") -> str:
    return f"/api/schools/{school_id}/marks{suffix}"


def test_mark_list_clear_and_history(client, make_user):
    user = make_user()
    body = {
        "mark": {
            "user_id": user.id,
            "date": "2026-11-23",
            "status": "absent",
            "reason": "sent home ill",
            "excused": True,
        }
    }
    resp = client.post(url(user.school_id), json=body)
    assert resp.status_code == 201, resp.json
    [created] = resp.json["data"]
    assert {
        k: created[k] for k in ("user_id", "school_id", "date", "status", "reason", "excused")
    } == {
        "user_id": user.id,
        "school_id": user.school_id,
        "date": "2026-11-23",
        "status": "absent",
        "reason": "sent home ill",
        "excused": True,
    }
    assert created["created_by"].startswith("token:")
    assert f"user_id={user.id}" in resp.headers["Location"]
    listed = client.get(url(user.school_id, f"?user_id={user.id}")).json
    assert [m["id"] for m in listed["data"]] == [created["id"]]
    assert client.delete(url(user.school_id, f"/{created['id']}")).status_code == 204
    assert client.get(url(user.school_id)).json["data"] == []
    history = client.get(url(user.school_id, "?history=true")).json["data"]
    assert [(m["status"], m["date"]) for m in history] == [
        ("absent", "2026-11-23"),
        ("cleared", "2026-11-23"),
    ]


def test_a_range_answers_the_marks_created(client, make_user):
    user = make_user()
    body = {
        "user_id": user.id,
        "from": "2030-01-07",
        "to": "2030-01-13",
        "status": "absent",
        "reason": "family trip",
    }
    resp = client.post(url(user.school_id), json=body)
    assert resp.status_code == 201
    assert [m["date"] for m in resp.json["data"]] == [f"2030-01-{d:02}" for d in range(7, 12)]
    resp = client.get(url(user.school_id, "?from=2030-01-09&to=2030-01-10"))
    assert [m["date"] for m in resp.json["data"]] == ["2030-01-09", "2030-01-10"]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"reason": None}, "reason"),
        ({"reason": ""}, "reason"),
        ({"reason": "   "}, "reason"),
        ({"reason": "x" * 201}, "reason"),
        ({"status": "present", "excused": True}, "excused"),
        ({"excused": "yes"}, "excused"),
        ({"status": "cleared"}, "status"),
        ({"date": "2026-13-01"}, "date"),
        ({"date": "2030-01-07", "status": "present"}, "date"),
        ({"date": None, "from": "2026-01-01", "to": "2027-01-02"}, "to"),
        ({"user_id": 99999}, "user_id"),
        ({"user_id": "1"}, "user_id"),
    ],
)
def test_mark_validation(client, make_user, frozen_now, fields, field):
    user = make_user()  # 2030-01-07 is after today (the pinned clock's), whatever the year
    body = {"user_id": user.id, "date": "2026-11-23", "status": "absent", "reason": "ill"}
    body = {k: v for k, v in {**body, **fields}.items() if v is not None or k == "reason"}
    resp = client.post(url(user.school_id), json=body)
    assert resp.status_code == 422, resp.json
    assert field in resp.json["errors"], resp.json


def test_mark_outside_the_enrolment_is_422(client, make_user):
    user = make_user(enrolled_from=D(2026, 11, 25))
    body = {"user_id": user.id, "date": "2026-11-24", "status": "absent", "reason": "ill"}
    resp = client.post(url(user.school_id), json=body)
    assert resp.status_code == 422 and "date" in resp.json["errors"]


def test_other_schools_user_and_unknown_user_look_alike(client, make_school, make_user):
    user = make_user()
    school = make_school()
    answers = []
    for ident in (user.id, 99999):
        body = {"user_id": ident, "date": "2026-11-23", "status": "absent", "reason": "ill"}
        resp = client.post(url(school.id), json=body)
        answers.append(resp.json["errors"]["user_id"][0].replace(str(ident), "N"))
    assert answers[0] == answers[1]


def test_devices_may_not_mark_and_other_schools_see_nothing(client_as, make_user, db):
    user = make_user()
    body = {"user_id": user.id, "date": "2026-11-23", "status": "absent", "reason": "ill"}
    assert client_as("device", user.school).post(url(user.school_id), json=body).status_code == 403
    own = client_as("school", user.school)
    created = own.post(url(user.school_id), json=body).json["data"][0]
    other = make_user().school
    # A mark addressed under another school's path is not found.
    assert own.delete(url(other.id, f"/{created['id']}")).status_code == 404
    district = client_as("district")
    assert district.delete(url(other.id, f"/{created['id']}")).status_code == 404
    assert district.delete(url(user.school_id, "/424242")).status_code == 404
