"""The pages render the figures the report pipeline gives them (a stand-in pipeline here)."""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
from decimal import Decimal

import pytest

from attendance.dashboard import pipeline

from .conftest import csrf_token


def day_result(
    user_id, day, *, present, seconds=0, in_now=False, first=None, orphans=0, unclosed=0
):
    start = first or f"{day}T08:00:00+00:00"
    return {
        "user_id": user_id,
        "day": day,
        "total_us": seconds * 1_000_000,
        "seconds": float(seconds),
        "present": present,
        "checked_in_now": in_now,
        "orphan_checkouts": orphans,
        "unclosed": unclosed,
        "sessions": [{"start": start, "end": None if in_now else f"{day}T13:00:00+00:00"}],
        "first_checkin": start,
    }


@pytest.fixture
def school_with_report(make_school, make_user, reports):
    """A school of three users and a three-day report of it, for today."""
    school = make_school(name="Hillside Primary")
    users = [make_user(school=school, name=n) for n in ("Ada", "Brook", "Cyrus")]
    today = pipeline.school_today(school)
    days = [today - dt.timedelta(days=2 - i) for i in range(3)]
    iso = [d.isoformat() for d in days]
    a, b, c = (str(u.id) for u in users)
    result = {
        "enrolled": 3,
        "presences": 1,
        "absences": 2,
        "buckets": [
            {"date": iso[0], "school_day": True, "present": 2, "absent": 1},
            {"date": iso[1], "school_day": False, "present": 0, "absent": 3},
            {"date": iso[2], "school_day": True, "present": 2, "absent": 1},
        ],
        "per_user": {
            a: {"present_days": 2, "counted_days": 2, "present": True, "seconds": 36000},
            b: {"present_days": 1, "counted_days": 2, "present": False, "seconds": 18000},
            c: {"present_days": 0, "counted_days": 2, "present": False, "seconds": 0},
        },
        "days": {
            iso[0]: {
                a: day_result(users[0].id, iso[0], present=True, seconds=18000),
                b: day_result(users[1].id, iso[0], present=True, seconds=18000, orphans=1),
                c: day_result(users[2].id, iso[0], present=False, unclosed=1),
            },
            iso[2]: {
                a: day_result(users[0].id, iso[2], present=True, seconds=18000, in_now=True),
                b: day_result(users[1].id, iso[2], present=True, seconds=3600, in_now=True),
            },
        },
    }
    today_result = {
        "enrolled": 3,
        "presences": 2,
        "absences": 1,
        "buckets": [{"date": iso[2], "school_day": True, "present": 2, "absent": 1}],
        "per_user": result["per_user"],
        "days": {iso[2]: result["days"][iso[2]]},
    }
    reports.results[(school.id, days[0], today, "day")] = result
    reports.results[(school.id, today, today, "day")] = today_result
    return school, users, days


def range_args(days):
    return f"from={days[0]}&to={days[-1]}"


def test_school_page_tiles_charts_and_panels(
    client, make_admin, login, school_with_report, make_event
):
    school, users, days = school_with_report
    now = dt.datetime.now(dt.UTC)
    make_event(user=users[0], timestamp=now - dt.timedelta(minutes=1), temperature=Decimal("38.2"))
    make_event(user=users[1], timestamp=now - dt.timedelta(minutes=1), temperature=Decimal("36.6"))
    login(make_admin())
    page = client.get(f"/dashboard/schools/{school.id}?{range_args(days)}").get_data(as_text=True)
    tiles = {
        key: page.split(f'data-kpi="{key}"')[1].split('class="value">')[1].split("<")[0].strip()
        for key in ("enrolled", "in_school", "present", "absent", "fever_alerts")
    }
    assert tiles == {
        "enrolled": "3",
        "in_school": "2",
        "present": "2",
        "absent": "1",
        "fever_alerts": "⚠ 1",
    }
    for chart in ("chart-presence", "chart-rate", "chart-arrivals", "chart-temperatures"):
        assert f'id="{chart}-data"' in page
    assert 'type="application/json"' in page and "<script>" not in page  # no inline script
    assert "38.2" in page  # the fever events table
    assert "data-quality" in page and "Check-ins never closed" in page
    assert "Download CSV" in page


def test_school_page_shows_progress_then_the_pinned_report(
    client, make_admin, login, make_school, reports
):
    school = make_school()
    login(make_admin())
    reports.status = "running"
    page = client.get(f"/dashboard/schools/{school.id}").get_data(as_text=True)
    assert "<progress" in page and "Computing the figures" in page
    assert "chart-presence" not in page
    pending = list(reports.records.values())
    status = client.get("/dashboard/reports/status?" + "&".join(f"id={r.id}" for r in pending)).json
    assert [r["status"] for r in status["reports"]] == ["running", "running"]
    assert status["reports"][0]["done"] == 1 and status["reports"][0]["total"] == 4
    # The page pins its reports when it fetches itself again: they are shown, not re-asked.
    for record in pending:
        record.status, record.chunks_done = "finished", 4
    asked = len(reports.requests)
    refresh = page.split('data-refresh-url="')[1].split('"')[0].replace("&amp;", "&")
    assert "reports=" in refresh
    page = client.get(refresh).get_data(as_text=True)
    assert "chart-presence" in page and "<progress" not in page
    assert len(reports.requests) == asked


def test_failed_report_shows_its_message(client, make_admin, login, make_school, reports):
    school = make_school()
    login(make_admin())
    reports.status, reports.error = "failed", "database went away"
    page = client.get(f"/dashboard/schools/{school.id}").get_data(as_text=True)
    assert "The report could not be computed" in page and "database went away" in page


def test_status_endpoint_is_scoped(client, make_admin, login, make_school, reports):
    mine, other = make_school(), make_school(name="Other")
    theirs = reports.request_report(other.id, dt.date(2026, 11, 2), dt.date(2026, 11, 2), "day")
    ours = reports.request_report(mine.id, dt.date(2026, 11, 2), dt.date(2026, 11, 2), "day")
    login(make_admin(role="school", school_id=mine.id))
    data = client.get(f"/dashboard/reports/status?id={theirs.id}&id={ours.id}").json
    assert [r["id"] for r in data["reports"]] == [ours.id]


def test_csv_equals_the_report(client, make_admin, login, school_with_report):
    school, _users, days = school_with_report
    login(make_admin())
    resp = client.get(f"/dashboard/schools/{school.id}/report.csv?{range_args(days)}")
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    assert "attachment" in resp.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(resp.get_data(as_text=True))))
    assert [(r["start"], r["school_day"], r["present"], r["absent"]) for r in rows[:-1]] == [
        (days[0].isoformat(), "yes", "2", "1"),
        (days[1].isoformat(), "no", "0", "3"),
        (days[2].isoformat(), "yes", "2", "1"),
    ]
    assert rows[-1]["period"] == "total"
    assert (rows[-1]["present"], rows[-1]["absent"], rows[-1]["enrolled"]) == ("1", "2", "3")


def test_csv_of_a_report_in_progress_is_503(client, make_admin, login, make_school, reports):
    school = make_school()
    login(make_admin())
    reports.status = "queued"
    resp = client.get(f"/dashboard/schools/{school.id}/report.csv")
    assert resp.status_code == 503 and resp.headers["Retry-After"]


def test_overview_lists_schools_with_todays_figures(
    client, make_admin, login, school_with_report, make_school
):
    school, _users, _days = school_with_report
    make_school(name="Another School")
    login(make_admin())
    page = client.get("/dashboard/?sort=rate&dir=desc").get_data(as_text=True)
    row = page.split(f'data-school-id="{school.id}"')[1].split("</tr>")[0]
    assert 'data-field="enrolled">3<' in row and 'data-field="in_school">2<' in row
    assert 'data-field="rate">66.7%<' in row
    # Sorted by rate, descending: the school with a rate comes before the one without.
    table = page.split('id="overview-table"')[1]
    assert table.index("Hillside Primary") < table.index("Another School")
    assert 'aria-sort="descending"' in page


def test_users_list_search_sort_and_pages(client, make_admin, login, school_with_report, make_user):
    school, users, days = school_with_report
    login(make_admin())
    base = f"/dashboard/schools/{school.id}/users?{range_args(days)}"
    page = client.get(base + "&sort=rate&dir=desc").get_data(as_text=True)
    assert page.index("Ada") < page.index("Brook") < page.index("Cyrus")
    ada = page.split(f'data-user-id="{users[0].id}"')[1].split("</tr>")[0]
    assert "100.0%" in ada and "2 <span" in ada
    page = client.get(base + "&q=bro").get_data(as_text=True)
    assert "Brook" in page and "Cyrus" not in page
    for i in range(30):
        make_user(school=school, name=f"Pupil {i:02d}")
    page = client.get(base).get_data(as_text=True)
    assert "Page 1 of 2" in page and "Next" in page
    page = client.get(base + "&page=2").get_data(as_text=True)
    assert "Page 2 of 2" in page


def test_user_page(client, make_admin, login, school_with_report, make_event):
    school, users, days = school_with_report
    now = dt.datetime.now(dt.UTC)
    make_event(user=users[0], timestamp=now - dt.timedelta(minutes=5), temperature=Decimal("39"))
    login(make_admin())
    page = client.get(
        f"/dashboard/schools/{school.id}/users/{users[0].id}?{range_args(days)}"
    ).get_data(as_text=True)
    assert "Ada" in page
    for chart in ("chart-calendar", "chart-hours", "chart-user-temperatures"):
        assert f'id="{chart}-data"' in page
    assert "still in" in page  # today's open session
    assert "39.0 fever" in page


def test_user_of_another_school_is_404(
    client, make_admin, login, school_with_report, make_user, make_school
):
    school, _users, _days = school_with_report
    stranger = make_user(school=make_school(name="Elsewhere"))
    login(make_admin())
    assert client.get(f"/dashboard/schools/{school.id}/users/{stranger.id}").status_code == 404


def test_bad_range_falls_back_with_a_note(client, make_admin, login, make_school, reports):
    school = make_school()
    login(make_admin())
    page = client.get(f"/dashboard/schools/{school.id}?from=nope&granularity=year")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "could not be read" in text and "Unknown view" in text


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


PNG = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c63f8cfc0f01f0005000201e2267d5c0000000049454e44ae426082"
    )
).decode()


def test_photo_of_a_fever_event(client, make_admin, login, make_user, make_event, make_school):
    user = make_user()
    event = make_event(user=user, image=f"data:image/png;base64,{PNG}")
    plain = make_event(user=user, image="not a photo")
    login(make_admin(role="school", school_id=user.school_id))
    resp = client.get(f"/dashboard/attendances/{event.id}/photo")
    assert resp.status_code == 200 and resp.mimetype == "image/png"
    assert resp.data.startswith(b"\x89PNG") and resp.headers["X-Content-Type-Options"] == "nosniff"
    assert client.get(f"/dashboard/attendances/{plain.id}/photo").status_code == 404
    elsewhere = make_event(user=make_user(school=make_school(name="B")), image=event.image)
    assert client.get(f"/dashboard/attendances/{elsewhere.id}/photo").status_code == 403


def test_plotly_is_served_from_the_package_with_long_caching(client):
    from attendance.dashboard.assets import plotly_version

    resp = client.get(f"/dashboard/assets/plotly-{plotly_version()}.min.js")
    assert resp.status_code == 200 and resp.mimetype == "text/javascript"
    assert resp.cache_control.max_age >= 365 * 24 * 3600 and resp.cache_control.immutable
    assert b"plotly" in resp.data[:2000].lower()
    resp.close()
    assert client.get("/dashboard/assets/plotly-0.0.0.min.js").status_code == 404


def test_pages_use_no_cdn(client, make_admin, login, school_with_report):
    school, _users, days = school_with_report
    login(make_admin())
    page = client.get(f"/dashboard/schools/{school.id}?{range_args(days)}").get_data(as_text=True)
    for attribute in ('src="', 'href="'):
        for value in page.split(attribute)[1:]:
            url = value.split('"')[0]
            assert not url.startswith(("http:", "https:", "//")), url


def test_an_old_pin_is_not_honoured(client, make_admin, login, make_school, reports):
    school = make_school()
    login(make_admin())
    client.get(f"/dashboard/schools/{school.id}")
    old = list(reports.records.values())
    for record in old:
        record.generated_at = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)
    asked = len(reports.requests)
    pins = ",".join(r.id for r in old)
    client.get(f"/dashboard/schools/{school.id}?reports={pins}")
    assert len(reports.requests) == asked + 2
