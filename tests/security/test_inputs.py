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
