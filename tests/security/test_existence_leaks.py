"""A school-bound token learns nothing about other schools' user ids from error messages."""

from __future__ import annotations

import pytest

from tests.conftest import event_body


@pytest.fixture
def two_schools(make_school, make_user, client_as):
    """A device of Hillside, a Hillside pupil, and a Riverside pupil (someone else's id)."""
    hillside, riverside = make_school(name="Hillside"), make_school(name="Riverside")
    mine = make_user(school=hillside)
    theirs = make_user(school=riverside)
    return client_as("device", hillside), mine, theirs


def unknown_id(theirs) -> int:
    return theirs.id + 1000


def test_single_event_answers_alike(two_schools):
    device, mine, theirs = two_schools
    answers = {}
    for user_id in (theirs.id, unknown_id(theirs)):
        resp = device.post("/api/attendances", json=event_body(mine, user_id=user_id))
        assert resp.status_code == 422
        answers[user_id] = resp.json["errors"]
    school = mine.school_id
    for user_id, errors in answers.items():
        assert errors == {"user_id": [f"user {user_id} does not exist in school {school}"]}


def test_bulk_items_answer_alike(two_schools):
    device, mine, theirs = two_schools
    batch = [event_body(mine, user_id=u) for u in (theirs.id, unknown_id(theirs))]
    resp = device.post("/api/attendances/bulk", json={"attendances": batch})
    assert resp.status_code == 200
    results = resp.json["data"]["results"]
    school = mine.school_id
    assert [r["errors"] for r in results] == [
        {"user_id": [f"user {u} does not exist in school {school}"]}
        for u in (theirs.id, unknown_id(theirs))
    ]
