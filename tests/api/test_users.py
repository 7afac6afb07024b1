"""The user routes."""

from __future__ import annotations

import pytest

from attendance.models import Attendance


def test_create_user(client, make_school):
    school = make_school()
    resp = client.post("/api/users", json={"user": {"name": "Grace", "school_id": school.id}})
    assert resp.status_code == 201
    data = resp.json["data"]
    assert data["name"] == "Grace" and data["school_id"] == school.id
    assert resp.headers["Location"].endswith(f"/api/users/{data['id']}")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"school_id": 1}, "name"),
        ({"name": "A"}, "school_id"),
        ({"name": "A", "school_id": "x"}, "school_id"),
        ({"name": "A", "school_id": True}, "school_id"),
        ({"name": "A", "school_id": 999}, "school_id"),
        ({"name": "x" * 201, "school_id": 1}, "name"),
    ],
)
def test_create_user_validation(client, make_school, body, field):
    make_school()
    resp = client.post("/api/users", json=body)
    assert resp.status_code == 422
    assert field in resp.json["errors"], resp.json


def test_list_filters_by_school(client, make_school, make_user):
    a, b = make_school(), make_school()
    make_user(school=a, name="A1")
    make_user(school=b, name="B1")
    make_user(school=a, name="A2")
    names = [u["name"] for u in client.get(f"/api/users?school_id={a.id}").json["data"]]
    assert names == ["A1", "A2"]
    assert client.get("/api/users").json["meta"]["total"] == 3


def test_update_and_move(client, make_school, make_user):
    user = make_user()
    other = make_school()
    resp = client.patch(f"/api/users/{user.id}", json={"name": "Renamed"})
    assert resp.json["data"]["name"] == "Renamed"
    resp = client.put(f"/api/users/{user.id}", json={"name": "Moved", "school_id": other.id})
    assert resp.json["data"]["school_id"] == other.id
    assert client.patch(f"/api/users/{user.id}", json={"school_id": 999}).status_code == 422
    resp = client.put(f"/api/users/{user.id}", json={"name": "Same school"})  # PUT is partial
    assert resp.json["data"]["school_id"] == other.id


def test_delete_archives_and_keeps_history(client, make_event, db):
    event = make_event()
    user_id = event.user_id
    assert client.delete(f"/api/users/{user_id}").status_code == 204
    assert client.get(f"/api/users/{user_id}").status_code == 404
    assert client.delete(f"/api/users/{user_id}").status_code == 404
    assert client.get("/api/users").json["meta"]["total"] == 0
    assert db.session.get(Attendance, event.id) is not None
    listed = client.get(f"/api/attendances?user_id={user_id}").json
    assert listed["meta"]["total"] == 1


def test_unknown_user_is_404(client, make_school):
    body = {"name": "x", "school_id": make_school().id}
    for method in ("get", "patch", "put", "delete"):
        assert getattr(client, method)("/api/users/12345", json=body).status_code == 404
