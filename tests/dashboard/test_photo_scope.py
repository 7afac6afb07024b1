"""A photo of another school's event is as unknown to a school admin as an id never used."""

from __future__ import annotations


def test_other_schools_photo_is_404_like_an_unknown_one(
    client, make_admin, login, make_school, make_user, make_event
):
    mine, theirs = make_school(name="Hillside"), make_school(name="Riverside")
    event = make_event(user=make_user(school=theirs), image="https://photos.example/1.jpg")
    login(make_admin(role="school", school_id=mine.id))
    other = client.get(f"/dashboard/attendances/{event.id}/photo")
    unknown = client.get(f"/dashboard/attendances/{event.id + 1000}/photo")
    assert other.status_code == unknown.status_code == 404
    assert other.get_data() == unknown.get_data()
