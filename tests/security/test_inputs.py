"""Inputs the fuzzer found crashing the service (500s) now get clean 4xx answers."""

from __future__ import annotations

import pytest

HUGE = 2**63  # beyond SQLite's INTEGER
WIDE = 2**31  # beyond PostgreSQL's INTEGER (psycopg binds with an ::INTEGER cast)


@pytest.mark.parametrize("ident", [WIDE, HUGE, 10**30])
@pytest.mark.parametrize(
    "path",
    [
        "/api/schools/{}",
        "/api/schools/{}/closures",
        "/api/schools/1/closures/{}",
        "/api/users/{}",
    ],
)
def test_ids_too_large_for_the_column_are_not_found(client, path, ident):
    resp = client.get(path.format(ident))
    assert resp.status_code == 404
    assert resp.json == {"errors": {"detail": "Not Found"}}


def test_attendance_ids_are_bigint(client, make_event):
    event = make_event()
    assert client.get(f"/api/attendances/{event.id}").status_code == 200
    assert client.get(f"/api/attendances/{WIDE}").status_code == 404
    assert client.get(f"/api/attendances/{2**63 - 1}").status_code == 404
    assert client.get(f"/api/attendances/{HUGE}").status_code == 404


@pytest.mark.parametrize(
    "query",
    [f"school_id={WIDE}", f"user_id={HUGE}", "school_id=-1", "user_id=99999999999999999999"],
)
def test_id_filters_out_of_range_are_422(client, query):
    url = "/api/users" if query.startswith("school") else "/api/attendances"
    resp = client.get(f"{url}?{query}")
    assert resp.status_code == 422
    assert query.split("=")[0] in resp.json["errors"]


def test_body_ids_out_of_range_are_422(client, make_user):
    user = make_user()
    resp = client.post("/api/users", json={"name": "N", "school_id": WIDE})
    assert resp.status_code == 422 and "school_id" in resp.json["errors"]
    event = {"user_id": HUGE, "school_id": user.school_id, "type": "checkin", "temperature": 37}
    resp = client.post("/api/attendances", json=event)
    assert resp.status_code == 422 and "user_id" in resp.json["errors"]


def test_openapi_bounds_are_numbers(client):
    doc = client.get("/api/openapi.json").json
    temperature = doc["components"]["schemas"]["AttendanceIn"]["properties"]["temperature"]
    assert temperature["minimum"] == 28 and temperature["maximum"] == 43
    params = doc["paths"]["/api/users/{user_id}"]["parameters"]
    assert params[0]["schema"]["maximum"] == 2**31 - 1


@pytest.mark.parametrize(
    "url",
    [
        "/api/reports/%00",
        "/api/reports/a%00b",
        "/api/attendances?type=%00",
        "/api/attendances/aggregate/school/1?granularity=day%00",
    ],
)
def test_nul_in_urls_is_400(client, url):
    resp = client.get(url)
    assert resp.status_code == 400
    assert "NUL" in resp.json["errors"]["detail"]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/schools", {"name": "Hill\x00side"}, "name"),
        ("/api/schools", {"school": {"name": "A", "timezone": "UTC\x00"}}, "timezone"),
        ("/api/users", {"name": "\x00", "school_id": 1}, "name"),
        ("/api/attendances", {"client_event_id": "e\x001"}, "client_event_id"),
    ],
)
def test_nul_in_bodies_is_422_on_the_field(client, make_school, path, body, field):
    make_school()
    resp = client.post(path, json=body)
    assert resp.status_code == 422
    assert resp.json["errors"][field] == ["must not contain NUL characters"]
