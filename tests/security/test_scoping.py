"""School-bound callers see and change their own school only; lists are narrowed, not refused."""

from __future__ import annotations

import pytest


@pytest.fixture
def two_schools(make_school, make_user, make_event):
    a, b = make_school(name="A"), make_school(name="B")
    ua, ub = make_user(school=a, name="Ann"), make_user(school=b, name="Bob")
    ea, eb = make_event(user=ua), make_event(user=ub)
    return {"a": a.id, "b": b.id, "ua": ua.id, "ub": ub.id, "ea": ea.id, "eb": eb.id}


def ids(resp):
    assert resp.status_code == 200, resp.json
    return [item["id"] for item in resp.json["data"]]


def test_school_admin_lists_only_its_school(client_as, two_schools):
    w = two_schools
    admin = client_as("school", w["a"])
    assert ids(admin.get("/api/schools")) == [w["a"]]
    assert ids(admin.get("/api/users")) == [w["ua"]]
    assert ids(admin.get("/api/attendances")) == [w["ea"]]
    assert ids(admin.get(f"/api/attendances?user_id={w['ub']}")) == []
    assert admin.get("/api/users").json["meta"]["total"] == 1


def test_district_admin_lists_everything(client, two_schools):
    w = two_schools
    assert ids(client.get("/api/schools")) == [w["a"], w["b"]]
    assert sorted(ids(client.get("/api/users"))) == sorted([w["ua"], w["ub"]])
    assert sorted(ids(client.get("/api/attendances"))) == sorted([w["ea"], w["eb"]])


def test_another_schools_rows_look_like_missing_ones(client_as, two_schools):
    w = two_schools
    admin = client_as("school", w["a"])
    for path in (f"/api/schools/{w['b']}", f"/api/users/{w['ub']}", f"/api/attendances/{w['eb']}"):
        other = admin.get(path)
        missing = admin.get(path.rsplit("/", 1)[0] + "/999999")
        assert other.status_code == missing.status_code == 404
        assert other.json == missing.json == {"errors": {"detail": "Not Found"}}


def test_naming_another_school_is_403_whether_or_not_it_exists(client_as, two_schools):
    w = two_schools
    admin = client_as("school", w["a"])
    for school_id in (w["b"], 999999):
        assert admin.get(f"/api/users?school_id={school_id}").status_code == 403
        assert admin.get(f"/api/attendances?school_id={school_id}").status_code == 403
        body = {"name": "Eve", "school_id": school_id}
        assert admin.post("/api/users", json=body).status_code == 403
        move = admin.patch(f"/api/users/{w['ua']}", json={"school_id": school_id})
        assert move.status_code == 403


def test_school_admin_cannot_create_or_delete_schools(client_as, two_schools):
    admin = client_as("school", two_schools["a"])
    assert admin.post("/api/schools", json={"name": "Mine"}).status_code == 403
    assert admin.delete(f"/api/schools/{two_schools['a']}").status_code == 403


def test_device_records_for_its_school_only(client_as, two_schools):
    w = two_schools
    device = client_as("device", w["a"])
    own = {"user_id": w["ua"], "school_id": w["a"], "type": "checkin", "temperature": 36.5}
    resp = device.post("/api/attendances", json=own)
    assert resp.status_code == 201
    other = {"user_id": w["ub"], "school_id": w["b"], "type": "checkin", "temperature": 36.5}
    assert device.post("/api/attendances", json=other).status_code == 403
    # It cannot read back what it recorded, nor anything else.
    assert device.get(resp.headers["Location"]).status_code == 403
    assert device.get("/api/attendances").status_code == 403


def test_device_lists_its_schools_users_only(client_as, two_schools):
    w = two_schools
    device = client_as("device", w["a"])
    names = [u["name"] for u in device.get("/api/users").json["data"]]
    assert names == ["Ann"]
    assert device.get(f"/api/users?school_id={w['b']}").status_code == 403
    assert device.get(f"/api/users/{w['ua']}").status_code == 403


def test_idempotency_keys_do_not_cross_schools(client_as, two_schools):
    w = two_schools
    key = {"Idempotency-Key": "gate-1"}
    first = client_as("device", w["b"]).post(
        "/api/attendances",
        json={"user_id": w["ub"], "school_id": w["b"], "type": "checkin", "temperature": 36.5},
        headers=key,
    )
    assert first.status_code == 201
    mine = client_as("device", w["a"]).post(
        "/api/attendances",
        json={"user_id": w["ua"], "school_id": w["a"], "type": "checkin", "temperature": 36.5},
        headers=key,
    )
    assert mine.status_code == 201
    assert mine.json["data"]["id"] != first.json["data"]["id"]


def test_reports_of_another_school_are_404(client_as, two_schools):
    w = two_schools
    url = "/api/attendances/aggregate/school/{}?from=2026-11-23&to=2026-11-23"
    report = client_as("school", w["b"]).get(url.format(w["b"]))
    assert report.status_code == 200
    location = f"/api/reports/{report.json['data']['report_id']}"
    admin = client_as("school", w["a"])
    assert admin.get(url.format(w["b"])).status_code == 404
    assert admin.get(location).status_code == 404
    assert client_as("school", w["b"]).get(location).status_code == 200
