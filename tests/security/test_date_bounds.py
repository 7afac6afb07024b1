"""Dates at the ends of the calendar: 422 naming the field (or a clamped page), never a 500.

The service takes dates from 2000-01-01 to 2100-12-31 (events: from 2000-01-01 to five
minutes ahead), everywhere, by one check (attendance.inputs). Before it, year-1 and
year-9999 dates with far offsets were 500s, closures on them were stored, and a report
of year 1 (or of 9999-12-25..31 by week) stayed queued until its deadline.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from attendance import inputs
from attendance.dashboard.params import parse_range
from attendance.inputs import MAX_RANGE_DAYS as MAX_DAYS
from attendance.models import Closure, Report
from attendance.security import admins
from tests.conftest import event_body
from tests.dashboard.conftest import PASSWORD, FreshClient, csrf_token

from . import nasty

HTTP = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)


def instant(stamp: str) -> dt.datetime | None:
    """The UTC instant an ISO 8601 text means (as Python reads it), or None past year 1..9999.

    Python's reading, not arithmetic on the generated offset: it drops an offset's
    microseconds when they are all it has ("+00:00:00.000001" reads as UTC).
    """
    parsed = dt.datetime.fromisoformat(stamp)
    offset = parsed.utcoffset()
    assert offset is not None
    try:
        return (parsed.replace(tzinfo=None) - offset).replace(tzinfo=dt.UTC)
    except OverflowError:
        return None


def in_bounds(stamp: str) -> bool:
    meant = instant(stamp)
    return meant is not None and inputs.FIRST_INSTANT <= meant <= inputs.LAST_INSTANT


# -- the one check ------------------------------------------------------------------------


@settings(max_examples=500)
@given(nasty.edge_moments, nasty.offsets)
def test_an_instant_is_taken_as_utc_within_the_bounds_or_refused(moment, offset):
    aware = dt.datetime.fromisoformat(nasty.stamp(moment, offset))
    if in_bounds(nasty.stamp(moment, offset)):
        utc = inputs.check_instant(aware)
        assert utc == aware and utc.tzinfo is dt.UTC
    else:
        with pytest.raises(inputs.InputError, match="2000-01-01"):
            inputs.check_instant(aware)


@given(nasty.edge_days)
def test_a_day_is_taken_within_the_bounds_or_refused(day):
    if inputs.FIRST_DAY <= day <= inputs.LAST_DAY:
        assert inputs.check_day(day) == day == inputs.clamp_day(day)
    else:
        with pytest.raises(inputs.InputError, match="2000-01-01 to 2100-12-31"):
            inputs.check_day(day)
        assert inputs.clamp_day(day) in (inputs.FIRST_DAY, inputs.LAST_DAY)


# -- the API ------------------------------------------------------------------------------


@HTTP
@given(moment=nasty.edge_moments, offset=nasty.offsets)
def test_event_timestamps(client, make_user, moment, offset):
    stamp = nasty.stamp(moment, offset)
    meant, now = instant(stamp), dt.datetime.now(dt.UTC)
    # Up to five minutes ahead is taken: not the bounds under test here.
    assume(meant is None or not now < meant < now + dt.timedelta(minutes=6))
    user = make_user()
    resp = client.post("/api/attendances", json=event_body(user, timestamp=stamp))
    if in_bounds(stamp) and meant is not None and meant <= now:
        assert resp.status_code == 201, resp.json
        assert dt.datetime.fromisoformat(resp.json["data"]["timestamp"]) == meant
    else:
        assert resp.status_code == 422, (stamp, resp.json)
        assert list(resp.json["errors"]) == ["timestamp"]


@HTTP
@given(moment=nasty.edge_moments, offset=nasty.offsets, field=st.sampled_from(["from", "to"]))
def test_list_filters(client, moment, offset, field):
    stamp = nasty.stamp(moment, offset)
    resp = client.get(f"/api/attendances?{field}={quote(stamp)}")
    if in_bounds(stamp):
        assert resp.status_code == 200
    else:
        assert resp.status_code == 422
        assert list(resp.json["errors"]) == [field]


def _days_refused(resp, days: dict[str, dt.date]) -> None:
    outside = sorted(f for f, d in days.items() if not inputs.FIRST_DAY <= d <= inputs.LAST_DAY)
    assert resp.status_code == 422, resp.json
    # Every field named is one outside (a report's range names the first of them).
    assert resp.json["errors"] and set(resp.json["errors"]) <= set(outside)
    for field in resp.json["errors"]:
        assert resp.json["errors"][field] == [inputs.DAY_BOUNDS]


@HTTP
@given(day=nasty.edge_days, field=st.sampled_from(["from", "to", "both"]))
def test_fever_event_dates(client, make_school, day, field):
    school = make_school()
    days = {"from": day, "to": day} if field == "both" else {field: day}
    query = "&".join(f"{f}={d.isoformat()}" for f, d in days.items())
    resp = client.get(f"/api/schools/{school.id}/fever-events?{query}")
    if inputs.FIRST_DAY <= day <= inputs.LAST_DAY:
        assert resp.status_code in (200, 422)  # one bound may fall on the wrong side of today
        if resp.status_code == 422:
            assert "today" in str(resp.json["errors"]) or "366" in str(resp.json["errors"])
    else:
        _days_refused(resp, days)


@HTTP
@given(day=nasty.edge_days)
def test_closure_dates(client, db, make_school, day):
    school = make_school()
    resp = client.post(f"/api/schools/{school.id}/closures", json={"date": day.isoformat()})
    if inputs.FIRST_DAY <= day <= inputs.LAST_DAY:
        assert resp.status_code == 201
    else:
        _days_refused(resp, {"date": day})
        assert db.session.scalar(select(func.count()).where(Closure.date == day)) == 0


@pytest.mark.parametrize(
    ("start", "end", "granularity"),
    [
        ("0001-01-01", "0001-01-01", "day"),
        ("9999-12-25", "9999-12-31", "week"),
        ("1999-12-31", "2000-01-06", "week"),
        ("2100-12-31", "2101-01-01", "month"),
    ],
)
def test_report_ranges_are_refused_at_once(client, db, make_school, start, end, granularity):
    school = make_school()
    url = f"/api/attendances/aggregate/school/{school.id}"
    resp = client.get(f"{url}?from={start}&to={end}&granularity={granularity}")
    days = {"from": dt.date.fromisoformat(start), "to": dt.date.fromisoformat(end)}
    _days_refused(resp, days)
    assert db.session.scalar(select(func.count()).select_from(Report)) == 0


def test_report_ranges_at_the_bounds_are_computed(client, make_school):
    school = make_school()
    url = f"/api/attendances/aggregate/school/{school.id}"
    for start, end in [("2000-01-01", "2000-01-09"), ("2100-12-20", "2100-12-31")]:
        resp = client.get(f"{url}?from={start}&to={end}&granularity=week")
        assert resp.status_code == 200, resp.json
        assert resp.json["data"]["status"] == "finished"


# -- the dashboard ------------------------------------------------------------------------


@settings(max_examples=300)
@given(
    start=st.one_of(st.none(), nasty.edge_days),
    end=st.one_of(st.none(), nasty.edge_days),
    today=st.dates(inputs.FIRST_DAY, inputs.LAST_DAY),
)
def test_a_page_range_is_always_within_the_bounds(start, end, today):
    args = {k: d.isoformat() for k, d in (("from", start), ("to", end)) if d is not None}
    rng, notes = parse_range(args, today)
    assert inputs.FIRST_DAY <= rng.start <= rng.end <= inputs.LAST_DAY
    assert rng.days <= MAX_DAYS
    moved = any(
        d is not None and not inputs.FIRST_DAY <= d <= inputs.LAST_DAY for d in (start, end)
    )
    assert moved == any("Dates run from 2000-01-01 to 2100-12-31" in n for n in notes)


@pytest.fixture
def dashboard(app, db, make_user, monkeypatch) -> tuple[FreshClient, Any]:
    """A district admin signed in to the dashboard, and a school with a user."""
    from argon2 import PasswordHasher

    monkeypatch.setattr(
        admins, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    )
    admins.create_admin("bounds@example.org", PASSWORD, "district", None)
    db.session.commit()
    client = FreshClient(app, app.response_class, use_cookies=True)
    form = {"email": "bounds@example.org", "password": PASSWORD}
    client.post("/dashboard/login", data={**form, "csrf_token": csrf_token(client)})
    return client, make_user()


@pytest.mark.parametrize(
    "query",
    [
        "to=0001-01-01",
        "from=0001-01-01",
        "from=9999-12-31",
        "to=9999-12-31&granularity=week",
        "from=0001-01-01&to=9999-12-31&granularity=month",
    ],
)
@pytest.mark.parametrize("page", ["", "/users", "/users/{user}", "/report.csv"])
def test_dashboard_pages_clamp_the_range(dashboard, page, query):
    client, user = dashboard
    path = f"/dashboard/schools/{user.school_id}{page.format(user=user.id)}?{query}"
    resp = client.get(path)
    assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
    if not page.endswith(".csv"):
        assert "Dates run from 2000-01-01 to 2100-12-31" in resp.get_data(as_text=True)


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31", "1999-12-31", "2101-01-01"])
def test_dashboard_closures_are_bounded_too(dashboard, db, day):
    client, user = dashboard
    settings_url = f"/dashboard/schools/{user.school_id}/settings"
    form = {"date": day, "name": "Far away", "csrf_token": csrf_token(client, settings_url)}
    resp = client.post(f"{settings_url}/closures", data=form, follow_redirects=True)
    assert resp.status_code == 200
    assert "2000-01-01 to 2100-12-31" in resp.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Closure)) == 0
