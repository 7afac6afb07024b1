"""Enrolments (presence.md 5): the services, their cache invalidation, and the user routes."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select

from attendance.models import DayVersion, Enrolment, School, User
from attendance.services import ServiceError
from attendance.services import enrolments as spans
from attendance.services import schools as school_service
from attendance.services import users as service
from attendance.services.reports import requesting as reports

D = dt.date
# Friday 2026-11-27 10:00 UTC (presence.md's `now`); the schools below are in UTC.
NOW = dt.datetime(2026, 11, 27, 10, tzinfo=dt.UTC)
TODAY = D(2026, 11, 27)
YESTERDAY = D(2026, 11, 26)


def versions(db, school_id: int) -> dict[dt.date, int]:
    rows = db.session.execute(
        select(DayVersion.day, DayVersion.version).where(DayVersion.school_id == school_id)
    )
    return dict(rows.all())


def generation(db, school_id: int) -> int:
    db.session.expire_all()
    return db.session.get(School, school_id).generation


def spans_of(db, user_id: int) -> list[tuple[int, dt.date | None, dt.date | None]]:
    rows = db.session.scalars(
        select(Enrolment).where(Enrolment.user_id == user_id).order_by(Enrolment.id)
    )
    return [(e.school_id, e.from_, e.until) for e in rows]


# -- the changed dates, pure ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "changed"),
    [
        ((None, None), (None, None), []),
        (None, (None, None), [(None, None)]),
        (None, (D(2026, 11, 2), None), [(D(2026, 11, 2), None)]),
        ((None, None), (None, YESTERDAY), [(TODAY, None)]),
        ((D(2026, 11, 2), None), (D(2026, 11, 4), None), [(D(2026, 11, 2), D(2026, 11, 3))]),
        ((None, None), (D(2026, 11, 4), None), [(None, D(2026, 11, 3))]),
        (
            (D(2026, 11, 2), D(2026, 11, 20)),
            (D(2026, 11, 4), D(2026, 11, 18)),
            [(D(2026, 11, 2), D(2026, 11, 3)), (D(2026, 11, 19), D(2026, 11, 20))],
        ),
        # An inverted span covers nothing: ending a future span touches only its dates.
        ((D(2026, 12, 1), None), (D(2026, 12, 1), YESTERDAY), [(D(2026, 12, 1), None)]),
        ((D(2026, 12, 5), D(2026, 12, 1)), None, []),
    ],
)
def test_changed_dates(old, new, changed):
    assert spans.changed_dates(old, new) == changed
    assert spans.changed_dates(new, old) == changed


# -- services and their invalidation ---------------------------------------------------------


def test_create_opens_an_enrolment(db, make_school):
    school = make_school()
    gen = school.generation
    user = service.create_user({"name": "Open", "school_id": school.id}, NOW)
    assert spans_of(db, user.id) == [(school.id, None, None)]
    # Counted on every past date: only the generation says that in one statement.
    assert generation(db, school.id) == gen + 1


def test_create_from_a_past_date_bumps_exactly_those_dates(db, make_school):
    school = make_school()
    gen = school.generation
    user = service.create_user(
        {"name": "New", "school_id": school.id, "enrolled_from": D(2026, 11, 23)}, NOW
    )
    assert spans_of(db, user.id) == [(school.id, D(2026, 11, 23), None)]
    assert generation(db, school.id) == gen
    # Monday to Thursday are over (maybe cached); today and later are not cached.
    assert versions(db, school.id) == {D(2026, 11, d): 1 for d in (23, 24, 25, 26)}


def test_create_from_today_or_later_touches_no_cache(db, make_school):
    school = make_school()
    gen = school.generation
    service.create_user({"name": "N", "school_id": school.id, "enrolled_from": TODAY}, NOW)
    assert (generation(db, school.id), versions(db, school.id)) == (gen, {})


def test_until_before_from_is_refused(db, make_school):
    school = make_school()
    body = {
        "name": "x",
        "school_id": school.id,
        "enrolled_from": TODAY,
        "enrolled_until": YESTERDAY,
    }
    with pytest.raises(ServiceError) as error:
        service.create_user(body, NOW)
    assert error.value.field == "enrolled_until"
    user = service.create_user({"name": "y", "school_id": school.id, "enrolled_from": TODAY}, NOW)
    with pytest.raises(ServiceError):
        service.update_user(user, {"enrolled_until": YESTERDAY}, NOW)


def test_update_edits_the_latest_enrolment(db, make_school):
    school = make_school()
    user = service.create_user({"name": "E", "school_id": school.id}, NOW)
    gen = generation(db, school.id)
    service.update_user(user, {"enrolled_until": D(2026, 11, 24)}, NOW)
    assert spans_of(db, user.id) == [(school.id, None, D(2026, 11, 24))]
    assert generation(db, school.id) == gen
    # No longer counted on Wednesday and Thursday: those two past dates.
    assert versions(db, school.id) == {D(2026, 11, 25): 1, D(2026, 11, 26): 1}
    service.update_user(user, {"enrolled_from": D(2026, 11, 2)}, NOW)
    # Since always -> from Nov 2: every earlier date changed, an unbounded past.
    assert generation(db, school.id) == gen + 1


def test_archive_ends_enrolments_yesterday(db, make_school):
    school = make_school()
    user = service.create_user({"name": "A", "school_id": school.id}, NOW)
    future = Enrolment(user_id=user.id, school_id=school.id, from_=D(2026, 12, 7))
    db.session.add(future)
    db.session.flush()
    gen = generation(db, school.id)
    service.archive_user(user, NOW)
    assert spans_of(db, user.id) == [
        (school.id, None, YESTERDAY),
        (school.id, D(2026, 12, 7), YESTERDAY),  # covers no date
    ]
    assert user.school_id == school.id and user.deleted_at == NOW
    # Only today and later dates changed: none of them can be cached.
    assert (generation(db, school.id), versions(db, school.id)) == (gen, {})


def test_archive_just_before_midnight_bumps_today(db, make_school):
    """Within daycache's margin of the day's end, today may be cached by the time we commit."""
    school = make_school()
    user = service.create_user({"name": "A", "school_id": school.id}, NOW)
    late = dt.datetime(2026, 11, 27, 23, 55, tzinfo=dt.UTC)
    service.archive_user(user, late)
    assert versions(db, school.id) == {TODAY: 1}


def test_archive_uses_the_schools_local_today(db, make_school):
    school = make_school(timezone="Asia/Ho_Chi_Minh")  # 20:00 UTC is 03:00 next day there
    user = service.create_user({"name": "A", "school_id": school.id}, NOW)
    service.archive_user(user, dt.datetime(2026, 11, 27, 20, tzinfo=dt.UTC))
    assert spans_of(db, user.id) == [(school.id, None, TODAY)]


def test_move_ends_old_and_opens_new(db, make_school):
    old, new = make_school(), make_school(timezone="Pacific/Honolulu")
    user = service.create_user({"name": "M", "school_id": old.id}, NOW)
    gens = generation(db, old.id), generation(db, new.id)
    # 2026-11-27T05:00Z: Friday in UTC, still Thursday in Honolulu.
    moment = dt.datetime(2026, 11, 27, 5, tzinfo=dt.UTC)
    service.update_user(user, {"school_id": new.id}, moment)
    assert spans_of(db, user.id) == [(old.id, None, YESTERDAY), (new.id, YESTERDAY, None)]
    assert user.school_id == new.id
    assert (generation(db, old.id), generation(db, new.id)) == gens
    assert versions(db, old.id) == versions(db, new.id) == {}


def test_move_with_enrolled_from_bumps_the_new_schools_past_dates(db, make_school):
    old, new = make_school(), make_school()
    user = service.create_user({"name": "M", "school_id": old.id}, NOW)
    service.update_user(user, {"school_id": new.id, "enrolled_from": D(2026, 11, 25)}, NOW)
    assert spans_of(db, user.id) == [(old.id, None, YESTERDAY), (new.id, D(2026, 11, 25), None)]
    assert versions(db, new.id) == {D(2026, 11, 25): 1, D(2026, 11, 26): 1}


def test_external_id_is_unique_within_a_school(db, make_school):
    a, b = make_school(), make_school()
    service.create_user({"name": "P", "school_id": a.id, "external_id": "42"}, NOW)
    service.create_user({"name": "Q", "school_id": b.id, "external_id": "42"}, NOW)
    with pytest.raises(ServiceError) as error:
        service.create_user({"name": "R", "school_id": a.id, "external_id": "42"}, NOW)
    assert error.value.field == "external_id"
    moving = service.create_user({"name": "S", "school_id": b.id, "external_id": "7"}, NOW)
    service.create_user({"name": "T", "school_id": a.id, "external_id": "7"}, NOW)
    with pytest.raises(ServiceError):
        service.update_user(moving, {"school_id": a.id}, NOW)


@pytest.mark.parametrize("field", ["day_end", "late_after"])
def test_day_end_and_late_after_bump_the_generation(db, make_school, field):
    school = make_school()
    gen = school.generation
    school_service.update_school(school, {field: dt.time(16)})
    assert generation(db, school.id) == gen + 1


def test_chronic_settings_change_the_fingerprint_not_the_day_cache(db, make_school):
    school = make_school()
    gen = school.generation
    before = reports.fingerprint(school, D(2026, 11, 2), D(2026, 11, 20))
    school_service.update_school(school, {"chronic_ratio": Decimal("0.2")})
    assert generation(db, school.id) == gen
    middle = reports.fingerprint(school, D(2026, 11, 2), D(2026, 11, 20))
    school_service.update_school(school, {"chronic_min_days": 5})
    after = reports.fingerprint(school, D(2026, 11, 2), D(2026, 11, 20))
    assert len({before, middle, after}) == 3


def test_listed_users_are_enrolled_today_or_later(db, make_school, make_user):
    school = make_school()
    now_enrolled = make_user(school=school, name="now")
    make_user(school=school, name="left", enrolled_until=D(2000, 1, 1))
    later = make_user(school=school, name="later", enrolled_from=D(2100, 1, 1))
    make_user(school=school, name="none", enrolled=False)
    listed = db.session.scalars(service.listed_users().order_by(User.id)).all()
    assert [u.name for u in listed] == [now_enrolled.name, later.name]
    assert len(db.session.scalars(service.listed_users(archived=True)).all()) == 4


# -- the routes ------------------------------------------------------------------------------


def test_create_show_and_update_enrolment_fields(client, make_school):
    school = make_school()
    body = {
        "name": "Grace",
        "school_id": school.id,
        "enrolled_from": "2026-09-01",
        "enrolled_until": "2027-07-15",
        "external_id": "P-0042",
        "group": "5B",
    }
    resp = client.post("/api/users", json={"user": body})
    assert resp.status_code == 201, resp.json
    data = resp.json["data"]
    assert {k: data[k] for k in body} == body
    shown = client.get(f"/api/users/{data['id']}").json["data"]
    assert shown["enrolments"] == [
        {"school_id": school.id, "from": "2026-09-01", "until": "2027-07-15"}
    ]
    resp = client.patch(f"/api/users/{data['id']}", json={"enrolled_until": None, "group": "6A"})
    assert resp.status_code == 200
    assert (resp.json["data"]["enrolled_until"], resp.json["data"]["group"]) == (None, "6A")
    assert resp.json["data"]["enrolments"] == [
        {"school_id": school.id, "from": "2026-09-01", "until": None}
    ]


def test_defaults_are_open_and_null(client, make_school):
    school = make_school()
    data = client.post("/api/users", json={"name": "G", "school_id": school.id}).json["data"]
    assert [data[k] for k in ("enrolled_from", "enrolled_until", "external_id", "group")] == [
        None
    ] * 4
    assert data["enrolments"] == [{"school_id": school.id, "from": None, "until": None}]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"enrolled_from": "2026-09-02", "enrolled_until": "2026-09-01"}, "enrolled_until"),
        ({"enrolled_from": "2026-02-30"}, "enrolled_from"),
        ({"enrolled_until": "yesterday"}, "enrolled_until"),
        ({"external_id": ""}, "external_id"),
        ({"external_id": "x" * 65}, "external_id"),
        ({"group": ""}, "group"),
        ({"group": "5\x1bB"}, "group"),
    ],
)
def test_user_field_validation(client, make_school, body, field):
    school = make_school()
    resp = client.post("/api/users", json={"name": "G", "school_id": school.id, **body})
    assert resp.status_code == 422
    assert field in resp.json["errors"], resp.json


def test_patch_until_before_existing_from_is_422(client, make_school):
    school = make_school()
    body = {"name": "G", "school_id": school.id, "enrolled_from": "2026-09-01"}
    user_id = client.post("/api/users", json=body).json["data"]["id"]
    resp = client.patch(f"/api/users/{user_id}", json={"enrolled_until": "2026-08-31"})
    assert resp.status_code == 422 and "enrolled_until" in resp.json["errors"]


def test_external_id_unique_within_a_school(client, make_school):
    a, b = make_school(), make_school()
    assert client.post("/api/users", json={"name": "A", "school_id": a.id, "external_id": "1"})
    resp = client.post("/api/users", json={"name": "B", "school_id": a.id, "external_id": "1"})
    assert resp.status_code == 422 and "external_id" in resp.json["errors"]
    resp = client.post("/api/users", json={"name": "C", "school_id": b.id, "external_id": "1"})
    assert resp.status_code == 201


def test_archive_ends_the_enrolment_and_lists(client, db, make_school, frozen_now):
    school = make_school()
    user_id = client.post("/api/users", json={"name": "A", "school_id": school.id}).json["data"][
        "id"
    ]
    assert client.delete(f"/api/users/{user_id}").status_code == 204
    today = spans.school_today(db.session.get(School, school.id))
    assert spans_of(db, user_id) == [(school.id, None, today - spans.ONE_DAY)]
    assert client.get(f"/api/users?school_id={school.id}").json["meta"]["total"] == 0
    listed = client.get(f"/api/users?school_id={school.id}&archived=true").json["data"]
    assert [u["id"] for u in listed] == [user_id]
    assert listed[0]["archived_at"] is not None and listed[0]["school_id"] == school.id


def test_list_by_group_and_enrolment(client, make_school, make_user):
    school = make_school()
    a = make_user(school=school, group="5B")
    make_user(school=school, group="5A")
    make_user(school=school, group="5B", enrolled_until=D(2020, 7, 1))  # has left
    later = make_user(school=school, group="5B", enrolled_from=D(2100, 9, 1))  # starts later
    resp = client.get(f"/api/users?school_id={school.id}&group=5B")
    assert [u["id"] for u in resp.json["data"]] == [a.id, later.id]
    resp = client.get(f"/api/users?school_id={school.id}&group=5B&archived=true")
    assert resp.json["meta"]["total"] == 3


def test_move_with_enrolled_from(client, db, make_school, make_user, frozen_now):
    old, new = make_school(), make_school()
    user = make_user(school=old)
    body = {"school_id": new.id, "enrolled_from": "2026-12-01"}
    data = client.patch(f"/api/users/{user.id}", json=body).json["data"]
    today = spans.school_today(db.session.get(School, old.id))
    assert data["school_id"] == new.id
    assert (data["enrolled_from"], data["enrolled_until"]) == ("2026-12-01", None)
    assert data["enrolments"] == [
        {"school_id": old.id, "from": None, "until": (today - spans.ONE_DAY).isoformat()},
        {"school_id": new.id, "from": "2026-12-01", "until": None},
    ]


def test_school_life_settings(client):
    resp = client.post("/api/schools", json={"name": "S"})
    data = resp.json["data"]
    assert (data["day_end"], data["late_after"]) == (None, None)
    assert (data["chronic_ratio"], data["chronic_min_days"]) == (0.1, 10)
    body = {"day_end": "16:00", "late_after": "08:15", "chronic_ratio": 0.25, "chronic_min_days": 5}
    data = client.patch(f"/api/schools/{data['id']}", json=body).json["data"]
    assert {k: data[k] for k in body} == body
    data = client.patch(f"/api/schools/{data['id']}", json={"day_end": None}).json["data"]
    assert data["day_end"] is None and data["late_after"] == "08:15"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("day_end", "24:00"),
        ("day_end", "8:00"),
        ("day_end", "08:00:00"),
        ("late_after", 800),
        ("chronic_ratio", 0),
        ("chronic_ratio", 1.01),
        ("chronic_ratio", 0.125),
        ("chronic_ratio", True),
        ("chronic_min_days", 0),
        ("chronic_min_days", 2.5),
    ],
)
def test_school_life_settings_validation(client, field, value):
    resp = client.post("/api/schools", json={"name": "S", field: value})
    assert resp.status_code == 422 and field in resp.json["errors"], resp.json
