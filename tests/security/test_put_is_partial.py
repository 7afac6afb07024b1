"""Seed compatibility: PUT, like PATCH, changes only the fields sent (wrapped or bare body)."""

from __future__ import annotations

from decimal import Decimal

import pytest

VERBS = ("put", "patch")


def body(fields: dict, wrapped: bool, envelope: str) -> dict:
    return {envelope: fields} if wrapped else fields


@pytest.mark.parametrize("verb", VERBS)
@pytest.mark.parametrize("wrapped", [True, False], ids=["wrapped", "bare"])
def test_user_name_only(client, make_user, verb, wrapped):
    user = make_user(name="Ada")
    school_id = user.school_id
    resp = getattr(client, verb)(
        f"/api/users/{user.id}", json=body({"name": "Ada Lovelace"}, wrapped, "user")
    )
    assert resp.status_code == 200, resp.json
    assert resp.json["data"]["name"] == "Ada Lovelace"
    assert resp.json["data"]["school_id"] == school_id
    assert user.school_id == school_id


@pytest.mark.parametrize("verb", VERBS)
@pytest.mark.parametrize("wrapped", [True, False], ids=["wrapped", "bare"])
def test_user_school_only(client, make_user, make_school, verb, wrapped):
    user = make_user(name="Ada")
    other = make_school(name="Riverside")
    resp = getattr(client, verb)(
        f"/api/users/{user.id}", json=body({"school_id": other.id}, wrapped, "user")
    )
    assert resp.status_code == 200, resp.json
    assert (resp.json["data"]["name"], resp.json["data"]["school_id"]) == ("Ada", other.id)


@pytest.mark.parametrize("verb", VERBS)
@pytest.mark.parametrize("wrapped", [True, False], ids=["wrapped", "bare"])
def test_school_one_field(client, make_school, verb, wrapped):
    school = make_school(name="Hillside", timezone="Europe/Paris", school_days=[1, 2, 3])
    resp = getattr(client, verb)(
        f"/api/schools/{school.id}", json=body({"min_daily_hours": 3.5}, wrapped, "school")
    )
    assert resp.status_code == 200, resp.json
    data = resp.json["data"]
    assert data["min_daily_hours"] == 3.5
    assert (data["name"], data["timezone"], data["school_days"]) == (
        "Hillside",
        "Europe/Paris",
        [1, 2, 3],
    )
    assert school.period_ratio == Decimal("0.8") and school.fever_threshold == Decimal("37.5")


@pytest.mark.parametrize("verb", VERBS)
@pytest.mark.parametrize("wrapped", [True, False], ids=["wrapped", "bare"])
def test_school_name_only(client, make_school, verb, wrapped):
    school = make_school(name="Hillside", timezone="Asia/Tokyo")
    resp = getattr(client, verb)(
        f"/api/schools/{school.id}", json=body({"name": "Hillside Primary"}, wrapped, "school")
    )
    assert resp.status_code == 200, resp.json
    assert resp.json["data"]["name"] == "Hillside Primary"
    assert resp.json["data"]["timezone"] == "Asia/Tokyo"


@pytest.mark.parametrize("verb", VERBS)
@pytest.mark.parametrize(
    ("resource", "envelope", "field"),
    [("users", "user", "name"), ("users", "user", "school_id"), ("schools", "school", "name")],
)
def test_null_is_refused_and_changes_nothing(client, make_user, verb, resource, envelope, field):
    """None of these fields may be empty: null is a 422, not 'leave it' nor 'clear it'."""
    user = make_user(name="Ada")
    ident = user.id if resource == "users" else user.school_id
    before = client.get(f"/api/{resource}/{ident}").json["data"]
    for sent in ({field: None}, {envelope: {field: None}}):
        resp = getattr(client, verb)(f"/api/{resource}/{ident}", json=sent)
        assert resp.status_code == 422 and field in resp.json["errors"]
    assert client.get(f"/api/{resource}/{ident}").json["data"] == before


@pytest.mark.parametrize("verb", VERBS)
def test_a_school_token_still_cannot_move_a_user_away(client_as, make_user, make_school, verb):
    user = make_user()
    other = make_school(name="Riverside")
    school_client = client_as("school", user.school_id)
    resp = getattr(school_client, verb)(f"/api/users/{user.id}", json={"school_id": other.id})
    assert resp.status_code == 403
