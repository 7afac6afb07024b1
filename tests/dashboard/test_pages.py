"""The pages show the report pipeline's figures (real reports on real events)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from attendance.dashboard import pipeline
from attendance.jobs import reports as jobs
from attendance.models import Report
from attendance.services.reports import requesting as report_service

from .. import faults
from .conftest import ALL_WEEK, at, csrf_token

# The settings form's school-life fields, as the page shows them for a new school.
SCHOOL_LIFE = {"day_end": "", "late_after": "", "chronic_percent": "10", "chronic_min_days": "10"}


def range_args(days, granularity="day"):
    return f"from={days[0]}&to={days[-1]}&granularity={granularity}"


def excuse(api, school, user, day) -> None:
    """An excused absence of `user` on `day`, recorded through the marks API."""
    mark = {"user_id": user.id, "date": str(day), "status": "absent", "excused": True}
    resp = api.post(f"/api/schools/{school.id}/marks", json={"mark": {**mark, "reason": "ill"}})
    assert resp.status_code == 201, resp.json


def aggregate(api, school, query=""):
    resp = api.get(f"/api/attendances/aggregate/school/{school.id}?{query}&wait=10")
    assert resp.status_code == 200
    return resp.json["data"]


def tiles(page: str) -> dict[str, str]:
    found = re.findall(r'data-kpi="(\w+)">.*?class="value">([^<]*)<', page, re.S)
    return {key: value.replace("⚠", "").strip() for key, value in found}


def test_school_page_tiles_charts_and_panels(api, client, make_admin, login, hillside):
    school, _pupils, days = hillside
    login(make_admin())
    page = client.get(f"/dashboard/schools/{school.id}?{range_args(days)}").get_data(as_text=True)
    assert tiles(page) == {
        "enrolled": "3",
        "in_school": "2",
        "present": "2",
        "absent": "1",
        "fever_alerts": "1",
    }
    for chart in ("chart-presence", "chart-rate", "chart-arrivals", "chart-temperatures"):
        assert f'id="{chart}-data"' in page
    assert 'type="application/json"' in page and "<script>" not in page  # no inline script
    # The presence table: the API's buckets.
    doc = aggregate(api, school, range_args(days))
    rows = re.findall(r'<tr data-present="(\w+)" data-absent="(\w+)">', page)
    assert rows == [(str(b["present"]), str(b["absent"])) for b in doc["buckets"]]
    assert rows == [("2", "1"), ("0", "3"), ("2", "1")]
    summary = re.search(r'data-presences="(\w+)" data-absences="(\w+)"', page)
    assert summary.groups() == (str(doc["presences"]), str(doc["absences"])) == ("0", "3")
    assert "⚠ 38.2" in page  # the fever events table
    quality = page.split('id="data-quality"')[1].split("</section>")[0]
    assert re.search(r'class="num">1</td><td class="num">1</td>', quality)
    assert "Download CSV" in page


def test_school_page_pupils_at_risk_and_excused_absences(
    api, client, make_admin, login, hillside, db
):
    """Cyrus is absent all three days: a streak of 3, and chronic (3 of 3 counted days,
    at least 50%). Ada and Brook are absent one day of three (Ada excused): not at risk."""
    school, (ada, brook, cyrus), days = hillside
    school.chronic_min_days, school.chronic_ratio = 3, Decimal("0.5")
    db.session.commit()
    excuse(api, school, ada, days[1])
    login(make_admin())
    page = client.get(f"/dashboard/schools/{school.id}?{range_args(days)}").get_data(as_text=True)
    doc = aggregate(api, school, range_args(days) + "&users=true")
    panel = page.split('id="at-risk"')[1].split("</section>")[0]
    listed = [int(uid) for uid in re.findall(r'data-user-id="(\d+)"', panel)]
    expected = [u["user_id"] for u in doc["users"] if u["chronic"] or u["absence_streak"] >= 3]
    assert sorted(listed) == sorted(expected) == [cyrus.id]
    assert doc["chronic"] == 1 and f"Chronically absent over this range ({doc['chronic']})" in page
    assert f"/dashboard/schools/{school.id}/users/{cyrus.id}?" in panel and "chronic" in panel
    assert brook.name not in panel and ada.name not in panel
    # The day figures split absences: yesterday all three absent, Ada's excused.
    excused = re.findall(r'data-excused="(\w+)"', page)
    assert excused == [str(b["excused"]) for b in doc["buckets"]] == ["0", "1", "0"]
    assert 'data-excused="1">1</td><td class="num">2</td>' in page  # excused, unexcused


def test_school_page_shows_progress_then_the_pinned_report(
    app, client, make_admin, login, hillside, monkeypatch, db
):
    school, _pupils, days = hillside
    monkeypatch.setitem(app.config, "DASHBOARD_REPORT_WAIT", 0)
    login(make_admin())
    # A report queued but not yet planned: the page finds it in flight and shows its progress
    # (the page's range report lists its users, for the pupils-at-risk panel).
    queued, _ = report_service.create_report(
        school, days[0], days[-1], "week", report_service.now_for_report(), users=True
    )
    report_id = queued.id
    db.session.commit()
    text = client.get(f"/dashboard/schools/{school.id}?{range_args(days, 'week')}").get_data(
        as_text=True
    )
    assert "<progress" in text and "Computing the figures" in text
    assert "chart-presence" not in text
    assert report_id in re.search(r"data-pending='([^']*)'", text).group(1)
    status = client.get(f"/dashboard/reports/status?id={report_id}").json["reports"]
    assert status == [{"id": report_id, "status": "queued", "done": 0, "total": 0, "error": None}]
    jobs.plan_report(report_id)  # the worker's turn (jobs run inline in tests)
    status = client.get(f"/dashboard/reports/status?id={report_id}").json["reports"]
    assert status[0]["status"] == "finished" and status[0]["done"] == status[0]["total"] == 3
    # The page fetches itself again, pinned to its reports: the figures, no second request.
    refresh = re.search(r'data-refresh-url="([^"]+)"', text).group(1).replace("&amp;", "&")
    assert report_id in refresh
    count = db.session.scalar(select(func.count(Report.id)))
    text = client.get(refresh).get_data(as_text=True)
    assert "chart-presence" in text and "<progress" not in text
    assert db.session.scalar(select(func.count(Report.id))) == count


def test_failed_report_shows_its_message(
    client, make_admin, login, hillside, make_event, monkeypatch
):
    school, pupils, days = hillside
    make_event(user=pupils[0], timestamp=at(days[1], 8))  # yesterday gets a chunk job
    faults.install(monkeypatch, fail_days=[days[1]])
    login(make_admin())
    page = client.get(f"/dashboard/schools/{school.id}?{range_args(days)}").get_data(as_text=True)
    assert "The report could not be computed" in page
    assert f"could not compute {days[1]}" in page and "injected fault" in page


def test_status_endpoint_is_scoped(client, make_admin, login, make_school, db):
    mine, other = make_school(), make_school(name="Other")
    now = report_service.now_for_report()
    day = now.date()
    theirs, _ = report_service.create_report(other, day, day, "day", now)
    ours, _ = report_service.create_report(mine, day, day, "day", now)
    db.session.commit()
    login(make_admin(role="school", school_id=mine.id))
    data = client.get(f"/dashboard/reports/status?id={theirs.id}&id={ours.id}&id=nonsense").json
    assert [r["id"] for r in data["reports"]] == [ours.id]


@pytest.mark.parametrize("granularity", ["day", "week", "month"])
def test_csv_equals_the_report(api, client, make_admin, login, hillside, granularity):
    school, _pupils, days = hillside
    login(make_admin())
    query = range_args(days, granularity)
    resp = client.get(f"/dashboard/schools/{school.id}/report.csv?{query}")
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    assert "attachment" in resp.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(resp.get_data(as_text=True))))
    doc = aggregate(api, school, query)

    def cell(value):
        return "" if value is None else str(value)

    expected = []
    for b in doc["buckets"]:
        start = b.get("date", b.get("start"))
        end = b.get("date", b.get("end"))
        expected.append((start, end, cell(b["present"]), cell(b["absent"])))
    assert [(r["start"], r["end"], r["present"], r["absent"]) for r in rows[:-1]] == expected
    total = rows[-1]
    assert total["period"] == "total" and total["enrolled"] == str(doc["enrolled"])
    assert (total["present"], total["absent"]) == (cell(doc["presences"]), cell(doc["absences"]))


def test_overview_lists_schools_with_todays_figures(
    client, make_admin, login, hillside, make_school
):
    school, _pupils, _days = hillside
    make_school(name="Another School")
    login(make_admin())
    page = client.get("/dashboard/?sort=rate&dir=desc").get_data(as_text=True)
    row = page.split(f'data-school-id="{school.id}"')[1].split("</tr>")[0]
    cells = dict(re.findall(r'data-field="(\w+)">\s*(.*?)\s*</td>', row, re.S))
    assert cells["enrolled"] == "3" and cells["in_school"] == "2"
    assert cells["present"] == "2" and cells["absent"] == "1"
    assert cells["rate"] == "66.7%" and "⚠ 1" in cells["fever_alerts"]
    # Sorted by rate, descending: the school with a rate comes before the one without.
    table = page.split('id="overview-table"')[1]
    assert table.index("Hillside Primary") < table.index("Another School")
    assert 'aria-sort="descending"' in page


def test_users_list_search_sort_and_pages(client, make_admin, login, hillside, make_user):
    school, (ada, brook, cyrus), days = hillside
    login(make_admin())
    base = f"/dashboard/schools/{school.id}/users?{range_args(days)}"
    page = client.get(base + "&sort=rate&dir=desc").get_data(as_text=True)
    table = page.split('id="users-table"')[1]
    assert table.index("Ada") < table.index("Brook") < table.index("Cyrus")
    row = table.split(f'data-user-id="{ada.id}"')[1].split("</tr>")[0]
    assert "66.7%" in row and "2 <span" in row and "of 3" in row
    assert "absent" in row  # 2 of 3 days is not more than 80%
    page = client.get(base + "&q=bro").get_data(as_text=True)
    assert "Brook" in page and "Cyrus" not in page
    for i in range(30):
        make_user(school=school, name=f"Pupil {i:02d}")
    page = client.get(base).get_data(as_text=True)
    assert "Page 1 of 2" in page and "Next" in page
    assert "Page 2 of 2" in client.get(base + "&page=2").get_data(as_text=True)


def test_user_page(client, make_admin, login, hillside):
    school, (ada, _brook, cyrus), days = hillside
    login(make_admin())
    url = f"/dashboard/schools/{school.id}/users/{ada.id}?{range_args(days)}"
    page = client.get(url).get_data(as_text=True)
    assert "Ada" in page
    for chart in ("chart-calendar", "chart-hours", "chart-user-temperatures"):
        assert f'id="{chart}-data"' in page
    assert tiles(page)["present_days"] == "2"
    assert "08:00–13:00" in page and "still in" in page
    assert "38.2 fever" in page
    page = client.get(f"/dashboard/schools/{school.id}/users/{cyrus.id}?{range_args(days)}")
    assert "no check-out" in page.get_data(as_text=True)


def test_user_of_another_school_is_404(client, make_admin, login, hillside, make_user, make_school):
    school, _pupils, _days = hillside
    stranger = make_user(school=make_school(name="Elsewhere"))
    login(make_admin())
    assert client.get(f"/dashboard/schools/{school.id}/users/{stranger.id}").status_code == 404


def test_bad_range_falls_back_with_a_note(client, make_admin, login, make_school):
    school = make_school()
    login(make_admin())
    page = client.get(f"/dashboard/schools/{school.id}?from=nope&granularity=year")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "could not be read" in text and "Unknown view" in text


def test_an_old_pin_is_not_honoured(client, make_admin, login, hillside, db):
    school, _pupils, days = hillside
    login(make_admin())
    url = f"/dashboard/schools/{school.id}?{range_args(days)}"
    first = client.get(url).get_data(as_text=True)
    ids = re.search(r"reports=([0-9a-f%C,]+)", first).group(1).replace("%2C", ",").split(",")
    # Fresh pins are honoured: the same reports come back.
    again = client.get(f"{url}&reports={','.join(ids)}").get_data(as_text=True)
    assert all(i in again for i in ids)
    for report in pipeline.load(ids):
        report.now -= dt.timedelta(minutes=10)
    db.session.commit()
    later = client.get(f"{url}&reports={','.join(ids)}").get_data(as_text=True)
    new_ids = re.search(r"reports=([0-9a-f%C,]+)", later).group(1).replace("%2C", ",")
    assert set(new_ids.split(",")).isdisjoint(ids)


def test_settings_change_rules_and_closures(client, make_admin, login, make_school):
    school = make_school()
    generation = school.generation
    login(make_admin(role="school", school_id=school.id))
    url = f"/dashboard/schools/{school.id}/settings"
    token = csrf_token(client, url)
    resp = client.post(
        url,
        data={
            "csrf_token": token,
            "timezone": "Asia/Ho_Chi_Minh",
            "school_days": ["1", "2", "3", "4", "5", "6"],
            "min_daily_hours": "3.5",
            "period_percent": "75",
            "fever_threshold": "37.8",
            **SCHOOL_LIFE,
        },
    )
    assert resp.status_code == 302
    assert "Saved" in client.get(url).get_data(as_text=True)
    assert school.timezone == "Asia/Ho_Chi_Minh" and school.school_days == [1, 2, 3, 4, 5, 6]
    assert school.min_daily_hours == Decimal("3.5") and school.period_ratio == Decimal("0.75")
    assert school.fever_threshold == Decimal("37.8")
    assert school.generation > generation  # cached figures are stale now
    generation = school.generation
    resp = client.post(
        url + "/closures", data={"csrf_token": token, "date": "2026-12-24", "name": "Eve"}
    )
    assert resp.status_code == 302
    assert [c.date for c in school.closures] == [dt.date(2026, 12, 24)]
    assert school.generation > generation
    closure = school.closures[0]
    resp = client.post(url + f"/closures/{closure.id}/delete", data={"csrf_token": token})
    assert resp.status_code == 302 and school.closures == []


def test_changing_a_setting_changes_the_figures(api, client, make_admin, login, hillside):
    """Past days come from the day cache; a new rule must not be served stale figures."""
    school, _pupils, days = hillside
    login(make_admin())
    past = f"from={days[0]}&to={days[0]}"
    assert aggregate(api, school, past)["presences"] == 2  # 5 h > 4 h; now cached
    url = f"/dashboard/schools/{school.id}/settings"
    client.post(
        url,
        data={
            "csrf_token": csrf_token(client, url),
            "timezone": "UTC",
            "school_days": [str(d) for d in ALL_WEEK],
            "min_daily_hours": "6",
            "period_percent": "80",
            "fever_threshold": "37.5",
            **SCHOOL_LIFE,
        },
    )
    page = client.get(f"/dashboard/schools/{school.id}?{past}").get_data(as_text=True)
    assert re.search(r'data-presences="(\w+)"', page).group(1) == "0"  # 5 h is not > 6 h


def test_settings_refuse_bad_values_with_messages(client, make_admin, login, make_school):
    school = make_school()
    login(make_admin())
    url = f"/dashboard/schools/{school.id}/settings"
    token = csrf_token(client, url)
    resp = client.post(
        url,
        data={
            "csrf_token": token,
            "timezone": "Mars/Olympus",
            "min_daily_hours": "30",
            "period_percent": "abc",
            "fever_threshold": "50",
        },
    )
    assert resp.status_code == 422
    text = resp.get_data(as_text=True)
    assert "must be an IANA timezone name" in text
    assert "must name at least one day" in text
    assert "must be a number" in text
    assert "must be between 28 and 43" in text
    assert school.timezone == "UTC"


def test_settings_form_needs_csrf(client, make_admin, login, make_school):
    school = make_school()
    login(make_admin())
    resp = client.post(f"/dashboard/schools/{school.id}/settings", data={"timezone": "UTC"})
    assert resp.status_code == 400


def test_photo_of_a_fever_event(client, make_admin, login, make_user, make_event, make_school):
    from attendance.security.images import Upload, save
    from tests.security.images import png

    user = make_user()
    stored = save(Upload(png(2, 2)))
    event = make_event(user=user, image=stored, temperature=Decimal("38.5"))
    linked = make_event(user=user, image="https://photos.example/1.jpg")
    login(make_admin(role="school", school_id=user.school_id))
    resp = client.get(f"/dashboard/attendances/{event.id}/photo")
    assert resp.status_code == 200 and resp.mimetype == "image/png"
    assert resp.data.startswith(b"\x89PNG") and resp.cache_control.private
    assert client.get(f"/dashboard/attendances/{linked.id}/photo").status_code == 404
    elsewhere = make_event(user=make_user(school=make_school(name="B")), image=stored)
    assert client.get(f"/dashboard/attendances/{elsewhere.id}/photo").status_code == 404
    day = event.timestamp.date()
    page = client.get(f"/dashboard/schools/{user.school_id}?from={day}&to={day}")
    text = page.get_data(as_text=True)
    assert f'src="/dashboard/attendances/{event.id}/photo"' in text


def test_plotly_is_served_from_the_package_with_long_caching(client):
    from attendance.dashboard.assets import plotly_version

    resp = client.get(f"/dashboard/assets/plotly-{plotly_version()}.min.js")
    assert resp.status_code == 200 and resp.mimetype == "text/javascript"
    assert resp.cache_control.max_age >= 365 * 24 * 3600 and resp.cache_control.immutable
    assert b"plotly" in resp.data[:2000].lower()
    resp.close()
    assert client.get("/dashboard/assets/plotly-0.0.0.min.js").status_code == 404


def test_pages_use_no_cdn(client, make_admin, login, hillside):
    school, (ada, *_), days = hillside
    login(make_admin())
    for path in (
        "/dashboard/",
        f"/dashboard/schools/{school.id}?{range_args(days)}",
        f"/dashboard/schools/{school.id}/users",
        f"/dashboard/schools/{school.id}/users/{ada.id}",
        f"/dashboard/schools/{school.id}/settings",
    ):
        page = client.get(path).get_data(as_text=True)
        for url in re.findall(r'(?:src|href)="([^"]*)"', page):
            assert not url.startswith(("http:", "https:", "//")), (path, url)


def test_users_list_shows_each_pupils_school_life(api, client, make_admin, login, hillside, db):
    """The users list's absent, excused, late days and chronic flag are the API's users=true
    figures; late days are blank without late_after. Each pupil's group and external id."""
    school, (ada, brook, cyrus), days = hillside
    school.chronic_min_days, school.chronic_ratio = 3, Decimal("0.5")
    ada.group, ada.external_id = "3B", "EXT-ADA"
    db.session.commit()
    excuse(api, school, ada, days[1])
    login(make_admin())
    page = client.get(f"/dashboard/schools/{school.id}/users?{range_args(days)}")
    table = page.get_data(as_text=True).split('id="users-table"')[1]
    doc = aggregate(api, school, range_args(days) + "&users=true")
    assert {u["user_id"] for u in doc["users"]} == {ada.id, brook.id, cyrus.id}
    for figures in doc["users"]:
        row = table.split(f'data-user-id="{figures["user_id"]}"')[1].split("</tr>")[0]
        cells = dict(re.findall(r'data-field="(\w+)">(.*?)</td>', row, re.S))
        assert cells["absent_days"] == str(figures["absent_days"])
        assert cells["excused_days"] == str(figures["excused_days"])
        assert figures["late_days"] is None and cells["late_days"] == ""
        assert ("chronic" in cells["chronic"]) is figures["chronic"]
        assert cells["group"] == (figures["group"] or "")
        assert cells["external_id"] == (figures["external_id"] or "")
    ada_row = table.split(f'data-user-id="{ada.id}"')[1].split("</tr>")[0]
    assert 'data-field="excused_days">1<' in ada_row and "EXT-ADA" in ada_row and "3B" in ada_row
    cyrus_row = table.split(f'data-user-id="{cyrus.id}"')[1].split("</tr>")[0]
    assert 'data-field="absent_days">3<' in cyrus_row and "chronic" in cyrus_row


def test_group_filter_narrows_the_pages(api, client, make_admin, login, hillside, db):
    """Choosing a group asks the reports with group=: the school page's enrolled count and
    the users list are of that group's pupils; links keep the group."""
    school, (ada, brook, cyrus), days = hillside
    ada.group = brook.group = "3B"
    cyrus.group = "4A"
    db.session.commit()
    login(make_admin())
    url = f"/dashboard/schools/{school.id}?{range_args(days)}"
    page = client.get(url).get_data(as_text=True)
    assert tiles(page)["enrolled"] == "3"
    assert '<option value="3B">3B</option>' in page and '<option value="4A">4A</option>' in page
    page = client.get(url + "&group=3B").get_data(as_text=True)
    doc = aggregate(api, school, range_args(days) + "&group=3B")
    assert tiles(page)["enrolled"] == "2"
    assert 'data-enrolled="2"' in page and doc["enrolled"] == 2
    assert '<option value="3B" selected>3B</option>' in page
    assert "group=3B" in page.split('id="csv-link"')[1].split(">")[0]
    users = client.get(
        f"/dashboard/schools/{school.id}/users?{range_args(days)}&group=4A"
    ).get_data(as_text=True)
    assert "Cyrus" in users and "Ada" not in users and "Brook" not in users
    # A group the school does not have is all groups.
    page = client.get(url + "&group=9Z").get_data(as_text=True)
    assert tiles(page)["enrolled"] == "3"


def test_in_a_days_last_second_the_page_has_the_apis_today(
    api, client, make_admin, login, make_school, frozen_now
):
    """Reports are computed as of the next whole second (the API's today comes from that
    instant): at 23:59:59.4 it is tomorrow's date, and so must the page's be, or the page
    would label as today a date its reports already count as over."""
    school = make_school(school_days=ALL_WEEK)
    frozen_now.at = at(frozen_now.at.date(), 23, 59) + dt.timedelta(seconds=59.4)
    login(make_admin())
    page = client.get(f"/dashboard/schools/{school.id}").get_data(as_text=True)
    doc = aggregate(api, school)
    tomorrow = frozen_now.at.date() + dt.timedelta(days=1)
    assert doc["to"] == str(tomorrow)
    shown = re.search(r'<input id="to" name="to" type="date" value="([\d-]+)"', page)
    assert shown.group(1) == doc["to"]
