"""One validation path: a batch item is stored or refused exactly as the same event sent alone.

The probe's case: one item the single route took (201) sank its whole batch (500), so an
offline device would have retried that batch forever. Offsets past PostgreSQL's ±15:59,
offsets with seconds, year-1 timestamps and lone surrogates were the culprits.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sqlalchemy import true

from attendance import clock
from attendance.services.attendances import delete_events
from tests.conftest import event_body

from . import nasty
from .images import data_uri, jpeg, png

FIELDS = ("user_id", "school_id", "type", "temperature", "timestamp", "image", "client_event_id")
FUTURE = dt.timedelta(minutes=5)


@st.composite
def recent_stamps(draw: st.DrawFn) -> str:
    """A time from a year ago to ten minutes ahead, with any offset, away from the 5-minute edge."""
    ahead = dt.timedelta(seconds=draw(st.integers(-366 * 86_400, 600)))
    assume(abs(ahead - FUTURE) > dt.timedelta(seconds=60))  # the two requests are ms apart
    moment = (clock.now() + ahead).replace(tzinfo=None)
    offset = draw(nasty.offsets)
    return nasty.stamp(moment + offset, offset)


def good_values(ids: dict[str, int]) -> dict[str, st.SearchStrategy[Any]]:
    return {
        "user_id": st.just(ids["user"]),
        "school_id": st.just(ids["school"]),
        "type": st.sampled_from(["checkin", "checkout"]),
        "temperature": st.sampled_from([36.6, 28, 43, 37.25, "36.6"]),
        "timestamp": recent_stamps(),
        "image": st.sampled_from(
            [
                None,
                data_uri(png(seed=3)),
                data_uri(jpeg(), "image/jpeg"),
                "https://cdn.example/a.jpg",
            ]
        ),
        "client_event_id": st.text(st.characters(codec="utf-8"), min_size=1, max_size=30),
    }


def bad_values(ids: dict[str, int]) -> dict[str, st.SearchStrategy[Any]]:
    ints = st.one_of(
        st.sampled_from([ids["other_user"], ids["other_school"], 0, 2**31, 2**70, -1]),
        st.floats(allow_nan=False).filter(lambda f: not f.is_integer()),
        st.just(float(ids["school"])),
        st.booleans(),
        st.just(str(ids["school"])),
    )
    return {
        "user_id": ints,
        "school_id": ints,
        "type": st.one_of(st.sampled_from(["lunch", "", "CHECKIN"]), nasty.surrogate_texts),
        "temperature": st.one_of(st.sampled_from([27.9, 43.01, 36.666, True]), nasty.nasty_values),
        "timestamp": st.one_of(nasty.edge_timestamps, st.sampled_from(["2026-11-23T08:00:00"])),
        "image": st.one_of(
            nasty.surrogate_texts,
            st.sampled_from(
                [
                    data_uri(b"\x89PNG\r\n\x1a\n<html><script>alert(1)</script></html>"),
                    data_uri(b"\xff\xd8\xff", "image/jpeg"),
                    "https://127.0.0.1:5432/",
                    "https://localhost/a.jpg",
                    "https://[::1]/a.png",
                ]
            ),
        ),
        "client_event_id": st.one_of(nasty.surrogate_texts, st.just("x" * 201), st.just("a\x00")),
    }


@st.composite
def events(draw: st.DrawFn, ids: dict[str, int]) -> dict[str, Any]:
    """An event with up to two fields spoilt, some fields left out, maybe wrapped."""
    broken = draw(st.sets(st.sampled_from(FIELDS), max_size=2))
    left_out = draw(st.sets(st.sampled_from(["timestamp", "image", "client_event_id"])))
    good, bad = good_values(ids), bad_values(ids)
    event = {
        field: draw(bad[field] if field in broken else good[field])
        for field in FIELDS
        if field in broken or field not in left_out
    }
    return {"attendance": event} if draw(st.booleans()) else event


@pytest.fixture
def ids(make_user, make_school) -> dict[str, int]:
    user = make_user()
    other = make_user(school=make_school(name="Other"))
    return {
        "user": user.id,
        "school": user.school_id,
        "other_user": other.id,
        "other_school": other.school_id,
    }


def forget_events(db) -> None:
    """So that the same client_event_id is new again for the next request."""
    delete_events(true())
    db.session.commit()


def sent_alone(client, db, event: dict[str, Any]) -> tuple[str, Any]:
    resp = client.post("/api/attendances", data=nasty.dumps(event), content_type="application/json")
    forget_events(db)
    assert resp.status_code in (201, 422), resp.get_data(as_text=True)
    return ("created", None) if resp.status_code == 201 else ("invalid", resp.json["errors"])


def sent_in_a_batch(client, db, event: dict[str, Any], good: dict[str, Any]) -> tuple[str, Any]:
    body = {"attendances": [good, event, good]}
    resp = client.post(
        "/api/attendances/bulk", data=nasty.dumps(body), content_type="application/json"
    )
    forget_events(db)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    first, result, last = resp.json["data"]["results"]
    assert first["status"] == last["status"] == "created"  # one bad item sinks nothing
    return result["status"], result.get("errors")


PROBE = "2026-10-05T08:00:00"
PROBES = [
    {"timestamp": PROBE + "+23:59"},
    {"timestamp": PROBE + "+05:30:15.123456"},
    {"timestamp": "0001-01-01T00:00:00+14:00"},
    {"timestamp": "0001-01-01T08:00:00Z"},
    {"client_event_id": "\ud800"},
    {"image": "\ud800"},
]


def good_event(ids: dict[str, int]) -> dict[str, Any]:
    return {
        "user_id": ids["user"],
        "school_id": ids["school"],
        "type": "checkin",
        "temperature": 37,
    }


@pytest.mark.parametrize("change", PROBES)
def test_the_probes_events_are_judged_alike(client, db, ids, change):
    good = good_event(ids)
    event = {**good, **change}
    assert sent_in_a_batch(client, db, event, good) == sent_alone(client, db, event)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_a_batch_item_is_judged_as_the_same_event_alone(client, db, ids, data):
    event = data.draw(events(ids))
    good = good_event(ids)
    assert sent_in_a_batch(client, db, event, good) == sent_alone(client, db, event)


def test_the_probes_items_are_each_stored_or_refused_with_a_reason(client, make_user):
    user = make_user()
    good = event_body(user)
    items = [
        good,
        event_body(user, timestamp=PROBE + "+23:59"),
        event_body(user, timestamp=PROBE + "-23:59:59.999999"),
        event_body(user, timestamp="0001-01-01T00:00:00+14:00"),
        event_body(user, timestamp="9999-12-31T23:59:59-14:00"),
    ]
    resp = client.post("/api/attendances/bulk", json={"attendances": items})
    assert resp.status_code == 200
    results = resp.json["data"]["results"]
    assert [r["status"] for r in results] == ["created"] * 3 + ["invalid"] * 2
    assert all("timestamp" in r["errors"] for r in results[3:])
    # Stored as the instant that was meant, in UTC.
    stored = client.get(f"/api/attendances/{results[1]['id']}").json["data"]["timestamp"]
    assert stored == "2026-10-04T08:01:00+00:00"
