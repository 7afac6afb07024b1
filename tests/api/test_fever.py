"""GET /api/schools/:id/fever-events."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 11, day, hour, minute, tzinfo=dt.UTC)


def test_lists_events_at_or_above_the_threshold(client, make_school, make_user, make_event):
    school = make_school(fever_threshold=Decimal("37.5"))
    ada = make_user(school=school, name="Ada")
    make_event(user=ada, timestamp=at(23, 8), temperature=Decimal("37.4"))
    hot = make_event(user=ada, timestamp=at(23, 9), temperature=Decimal("37.5"))
    hotter = make_event(user=ada, timestamp=at(24, 8), temperature=Decimal("39.1"), type="checkout")
    resp = client.get(f"/api/schools/{school.id}/fever-events?from=2026-11-23&to=2026-11-24")
    assert resp.status_code == 200
    data = resp.json["data"]
    assert [e["id"] for e in data] == [hot.id, hotter.id]
    assert data[0]["temperature"] == 37.5 and data[0]["fever"] is True
    assert data[0]["user_name"] == "Ada"
    assert resp.json["meta"] == {"page": 1, "per_page": 50, "total": 2}


def test_range_is_school_local_dates(client, make_school, make_user, make_event):
    # UTC+7: 23:30Z on the 22nd is the 23rd locally; 17:30Z on the 23rd is the 24th.
    school = make_school(timezone="Asia/Ho_Chi_Minh")
    user = make_user(school=school)
    inside = make_event(user=user, timestamp=at(22, 23, 30), temperature=Decimal("38"))
    make_event(user=user, timestamp=at(23, 17, 30), temperature=Decimal("38"))
    make_event(user=user, timestamp=at(22, 16, 59), temperature=Decimal("38"))
    resp = client.get(f"/api/schools/{school.id}/fever-events?from=2026-11-23&to=2026-11-23")
    assert [e["id"] for e in resp.json["data"]] == [inside.id]


def test_only_that_schools_events(client, make_school, make_user, make_event):
    one, two = make_school(), make_school(name="Other")
    make_event(user=make_user(school=two), timestamp=at(23, 8), temperature=Decimal("40"))
    resp = client.get(f"/api/schools/{one.id}/fever-events?from=2026-11-23&to=2026-11-23")
    assert resp.json["data"] == []


def test_defaults_to_today(client, make_user, make_event, frozen_now):
    user = make_user()
    # Five seconds ago: yesterday's, in a day's first seconds, without the pin.
    event = make_event(user=user, timestamp=frozen_now.at - dt.timedelta(seconds=5), temperature=38)
    resp = client.get(f"/api/schools/{user.school_id}/fever-events")
    assert [e["id"] for e in resp.json["data"]] == [event.id]


def test_bad_ranges_are_422(client, make_school):
    school = make_school()
    url = f"/api/schools/{school.id}/fever-events"
    assert client.get(url + "?from=2026-11-24&to=2026-11-23").status_code == 422
    assert client.get(url + "?from=2026-13-01").status_code == 422
    assert client.get(url + "?from=2025-01-01&to=2026-01-02").status_code == 422
    assert client.get(url + "?from=2999-01-01").json["errors"]["from"]


def test_unknown_school_is_404(client):
    assert client.get("/api/schools/999/fever-events").status_code == 404


def test_scoped_like_every_school_route(client_as, make_school, make_user, make_event):
    own, other = make_school(), make_school(name="Other")
    make_event(user=make_user(school=own), timestamp=at(23, 8), temperature=Decimal("39"))
    url = f"/api/schools/{own.id}/fever-events?from=2026-11-23&to=2026-11-23"
    assert len(client_as("school", own).get(url).json["data"]) == 1
    assert client_as("school", other).get(url).status_code == 404  # not theirs: not there
    assert client_as("device", own).get(url).status_code == 403
