"""The school routes and closures."""

from __future__ import annotations

import pytest


def test_create_school_with_defaults(client):
    resp = client.post("/api/schools", json={"name": "Hillside"})
    assert resp.status_code == 201
    data = resp.json["data"]
    assert resp.headers["Location"].endswith(f"/api/schools/{data['id']}")
    assert data["name"] == "Hillside"
    assert data["timezone"] == "UTC"
    assert data["school_days"] == [1, 2, 3, 4, 5]
    assert data["min_daily_hours"] == 4
    assert data["period_ratio"] == 0.8
    assert data["fever_threshold"] == 37.5


def test_create_school_wrapped_body(client):
    resp = client.post(
        "/api/schools",
        json={
            "school": {"name": "Riverside", "timezone": "Asia/Ho_Chi_Minh", "school_days": [6, 1]}
        },
    )
    assert resp.status_code == 201
    assert resp.json["data"]["timezone"] == "Asia/Ho_Chi_Minh"
    assert resp.json["data"]["school_days"] == [1, 6]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": 5}, "name"),
        ({"name": "A", "timezone": "Mars/Olympus"}, "timezone"),
        ({"name": "A", "school_days": []}, "school_days"),
        ({"name": "A", "school_days": [0]}, "school_days"),
        ({"name": "A", "school_days": [1, 1]}, "school_days"),
        ({"name": "A", "min_daily_hours": 0}, "min_daily_hours"),
        ({"name": "A", "min_daily_hours": 25}, "min_daily_hours"),
        ({"name": "A", "period_ratio": 1}, "period_ratio"),
        ({"name": "A", "period_ratio": -0.1}, "period_ratio"),
        ({"name": "A", "fever_threshold": 50}, "fever_threshold"),
        ({"name": "A", "fever_threshold": True}, "fever_threshold"),
        ({"name": "A", "colour": "red"}, "colour"),
    ],
)
def test_create_school_validation(client, body, field):
    resp = client.post("/api/schools", json=body)
    assert resp.status_code == 422
    assert field in resp.json["errors"], resp.json


def test_list_show_update_delete(client, make_school):
    schools = [make_school(name=f"S{i}") for i in range(3)]
    listing = client.get("/api/schools?per_page=2&page=2").json
    assert listing["meta"] == {"page": 2, "per_page": 2, "total": 3}
    assert [s["name"] for s in listing["data"]] == ["S2"]
    sid = schools[0].id
    assert client.get(f"/api/schools/{sid}").json["data"]["name"] == "S0"
    resp = client.patch(f"/api/schools/{sid}", json={"min_daily_hours": 3.5})
    assert resp.status_code == 200
    assert resp.json["data"]["min_daily_hours"] == 3.5
    resp = client.put(f"/api/schools/{sid}", json={"school": {"name": "Renamed"}})
    assert resp.json["data"]["name"] == "Renamed"
    assert client.delete(f"/api/schools/{sid}").status_code == 204
    assert client.get(f"/api/schools/{sid}").status_code == 404


def test_put_refuses_an_empty_name(client, make_school):
    sid = make_school().id
    assert client.put(f"/api/schools/{sid}", json={"name": ""}).status_code == 422


def test_unknown_school_is_404(client):
    for method in ("get", "patch", "put", "delete"):
        resp = getattr(client, method)("/api/schools/999", json={"name": "x"})
        assert resp.status_code == 404
        assert resp.json == {"errors": {"detail": "Not Found"}}


def test_pagination_bounds(client):
    assert client.get("/api/schools?per_page=1001").status_code == 422
    assert client.get("/api/schools?page=0").status_code == 422
    assert client.get("/api/schools?per_page=abc").status_code == 422


def test_delete_school_with_users_is_refused(client, make_user):
    user = make_user()
    resp = client.delete(f"/api/schools/{user.school_id}")
    assert resp.status_code == 409
    assert "history" in resp.json["errors"]["detail"]
    assert client.get(f"/api/schools/{user.school_id}").status_code == 200


def test_delete_school_with_history_of_archived_users_is_refused(client, make_event):
    event = make_event()
    assert client.delete(f"/api/users/{event.user_id}").status_code == 204
    assert client.delete(f"/api/schools/{event.school_id}").status_code == 409
    assert client.get(f"/api/attendances/{event.id}").status_code == 200


def test_rule_changes_bump_generation(client, make_school, db):
    school = make_school()
    before = school.generation
    client.patch(f"/api/schools/{school.id}", json={"name": "Only the name"})
    db.session.refresh(school)
    assert school.generation == before
    client.patch(f"/api/schools/{school.id}", json={"period_ratio": 0.75})
    db.session.refresh(school)
    assert school.generation == before + 1


def test_closures(client, make_school, db):
    school = make_school()
    url = f"/api/schools/{school.id}/closures"
    resp = client.post(url, json={"closure": {"date": "2026-12-25", "name": "Christmas"}})
    assert resp.status_code == 201
    closure_id = resp.json["data"]["id"]
    assert resp.headers["Location"].endswith(f"{url}/{closure_id}")
    again = client.post(url, json={"date": "2026-12-25"})
    assert again.status_code == 200
    assert again.json["data"]["id"] == closure_id
    client.post(url, json={"date": "2026-12-24"})
    assert [c["date"] for c in client.get(url).json["data"]] == ["2026-12-24", "2026-12-25"]
    assert client.post(url, json={"date": "25/12/2026"}).status_code == 422
    assert client.delete(f"{url}/{closure_id}").status_code == 204
    assert client.get(f"{url}/{closure_id}").status_code == 404
    other = make_school()
    other_id = client.post(f"/api/schools/{other.id}/closures", json={"date": "2026-12-31"}).json
    assert client.get(f"{url}/{other_id['data']['id']}").status_code == 404
    assert client.get("/api/schools/999/closures").status_code == 404
