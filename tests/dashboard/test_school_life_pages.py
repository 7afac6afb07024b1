"""Late arrivals and forgotten check-outs on the school page and the pupil page."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest

from .conftest import ALL_WEEK, at
from .test_pages import aggregate, tiles


@pytest.fixture
def late_school(make_school, make_user, make_event, frozen_now):
    """Two days ago, at a school late after 08:30 whose day ends at 15:00: Ada came at
    09:10 (late), Brook at 08:00 and never checked out (closed at 15:00), Cyrus at 08:15."""
    school = make_school(
        name="Hillside Primary",
        school_days=ALL_WEEK,
        late_after=dt.time(8, 30),
        day_end=dt.time(15),
    )
    ada, brook, cyrus = (make_user(school=school, name=n) for n in ("Ada", "Brook", "Cyrus"))
    today = frozen_now.at.date()
    days = [today - dt.timedelta(days=2), today - dt.timedelta(days=1)]
    for pupil, (hour, minute), out in ((ada, (9, 10), 14), (brook, (8, 0), None),
                                       (cyrus, (8, 15), 13)):  # fmt: skip
        make_event(user=pupil, timestamp=at(days[0], hour, minute))
        if out is not None:
            make_event(user=pupil, timestamp=at(days[0], out), type="checkout")
    return school, (ada, brook, cyrus), days


def figure(page: str, chart: str) -> dict:
    block = re.search(rf'<script type="application/json" id="{chart}-data">(.*?)</script>', page)
    assert block, f"no {chart} on the page"
    return json.loads(block.group(1))


def args(days, granularity="day") -> str:
    return f"from={days[0]}&to={days[-1]}&granularity={granularity}"


@pytest.mark.parametrize("granularity", ["day", "week"])
def test_late_arrivals_chart_equals_the_api(
    api, client, make_admin, login, late_school, granularity
):
    school, _pupils, days = late_school
    login(make_admin())
    page = client.get(f"/dashboard/schools/{school.id}?{args(days, granularity)}")
    drawn = figure(page.get_data(as_text=True), "chart-late")["data"][0]["y"]
    # The API's day buckets, summed into the page's buckets.
    by_day = aggregate(api, school, args(days))["buckets"]
    assert [b["late"] for b in by_day] == [1, 0]
    if granularity == "day":
        assert drawn == [1, 0]
    else:
        weeks = aggregate(api, school, args(days, "week"))["buckets"]
        expected = [
            sum(b["late"] for b in by_day if w["start"] <= b["date"] <= w["end"]) for w in weeks
        ]
        assert drawn == expected and sum(drawn) == 1


def test_no_late_chart_without_late_after(client, make_admin, login, late_school, db):
    school, _pupils, days = late_school
    school.late_after = None
    db.session.commit()
    login(make_admin())
    page = client.get(f"/dashboard/schools/{school.id}?{args(days)}").get_data(as_text=True)
    assert "chart-late" not in page
    assert 'id="chart-presence-data"' in page


def test_forgotten_check_outs_in_the_data_quality_panel(client, make_admin, login, late_school):
    school, (ada, brook, _cyrus), days = late_school
    login(make_admin())
    page = client.get(f"/dashboard/schools/{school.id}?{args(days)}").get_data(as_text=True)
    panel = page.split('id="data-quality"')[1].split("</section>")[0]
    assert "closed at 15:00" in panel
    rows = re.findall(r'<tr data-day="([\d-]+)">.*?</tr>', panel, re.S)
    assert rows == [str(days[0])]
    assert f'data-user-id="{brook.id}">Brook</a>' in panel and "Ada" not in panel


def test_pupil_page_shows_late_and_auto_closed_days(api, client, make_admin, login, late_school):
    school, (ada, brook, _cyrus), days = late_school
    login(make_admin())
    doc = aggregate(api, school, args(days) + "&users=true")
    life = {u["user_id"]: u for u in doc["users"]}
    page = client.get(f"/dashboard/schools/{school.id}/users/{ada.id}?{args(days)}")
    page = page.get_data(as_text=True)
    assert tiles(page)["late_days"] == str(life[ada.id]["late_days"]) == "1"
    assert re.search(rf'<tr data-day="{days[0]}" data-status="present" data-late>', page)
    assert "08:30" in page
    page = client.get(f"/dashboard/schools/{school.id}/users/{brook.id}?{args(days)}")
    page = page.get_data(as_text=True)
    assert tiles(page)["late_days"] == str(life[brook.id]["late_days"]) == "0"
    assert re.search(rf'<tr data-day="{days[0]}" data-status="present" data-auto-closed>', page)
    sessions = page.split('id="sessions-table"')[1].split("</table>")[0]
    assert "08:00–15:00" in sessions and "auto-closed" in sessions
