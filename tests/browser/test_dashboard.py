"""The dashboard in Chromium: from login to a pupil's record, numbers checked against the API."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask

from attendance import clock
from attendance.demo import generate as demo
from attendance.extensions import db
from attendance.models import Attendance, Enrolment, School, User
from tests.conftest import clock_pinned, wipe

from .. import faults
from .conftest import PHONE

pytestmark = pytest.mark.browser

PASSWORD = "browser-test-password"
TZ = "Europe/London"
BEFORE_SCHOOL = dt.datetime(2026, 11, 25, 6, 30, tzinfo=dt.UTC)  # a Wednesday, 06:30 in London


@dataclass
class World:
    school_id: int
    other_id: int
    fever_user_id: int
    district: str
    school_admin: str
    token: str


@pytest.fixture(scope="module")
def world(app: Flask) -> Iterator[World]:
    """Two schools: one with four weeks of generated events and pupils in school now.

    The app's clock is pinned for the module, before the school day (the generated
    pupils arrive from 07:30): at 10:00 they are in school too, before one in the morning
    the check-ins of "an hour ago" are yesterday's, and a module that runs over midnight
    sees another today."""
    with clock_pinned(BEFORE_SCHOOL):
        yield from _world(app)


def _world(app: Flask) -> Iterator[World]:
    from attendance.security import admins, tokens

    now = clock.now()
    with app.app_context():
        plan = demo.SchoolPlan(name="Hillside Primary", timezone=TZ)
        school = School(name=plan.name, timezone=TZ)
        other = School(name="Riverside Academy", timezone="Asia/Ho_Chi_Minh")
        db.session.add_all([school, other])
        db.session.flush()
        names = demo.user_names(24, seed=5, school_index=0)
        pupils = [User(name=n, school_id=school.id) for n in names]
        someone = User(name="Someone Else", school_id=other.id)
        db.session.add_all([*pupils, someone])
        db.session.flush()
        # Everyone is counted at their school (an open enrolment), as a created user is.
        db.session.add_all(
            Enrolment(user_id=u.id, school_id=u.school_id) for u in [*pupils, someone]
        )
        today = now.astimezone(ZoneInfo(TZ)).date()
        start = today - dt.timedelta(days=27)
        for e in demo.generate_school_events(plan, len(pupils), start, today, 5, 0, now=now):
            db.session.add(
                Attendance(
                    user_id=pupils[e.user_key].id,
                    school_id=school.id,
                    type=e.type,
                    timestamp=e.timestamp,
                    temperature=e.temperature,
                )
            )
        # Whatever the weekday: two pupils came in an hour ago, one of them with a fever.
        for pupil, temperature in ((pupils[0], "38.4"), (pupils[1], "36.7")):
            db.session.add(
                Attendance(
                    user_id=pupil.id,
                    school_id=school.id,
                    type="checkin",
                    timestamp=now - dt.timedelta(hours=1),
                    temperature=Decimal(temperature),
                )
            )
        district = admins.create_admin("district@example.org", PASSWORD, "district")
        local = admins.create_admin("head@example.org", PASSWORD, "school", school.id)
        _row, token = tokens.create_token("district", None, "browser tests")
        db.session.commit()
        world = World(school.id, other.id, pupils[0].id, district.email, local.email, token)
        db.session.remove()
    # No app context stays pushed: each request, the server's or the test's, makes its own.
    yield world
    wipe(app)


def api(app: Flask, world: World, path: str) -> Any:
    """GET an API path with a district token; the `data` of the answer."""
    client = app.test_client()
    resp = client.get(path, headers={"Authorization": f"Bearer {world.token}"})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.json["data"]


def log_in(page: Any, email: str) -> None:
    page.goto("/dashboard/login")
    page.tab.fill("#email", email)
    page.tab.fill("#password", PASSWORD)
    page.tab.click("button[type=submit]")
    page.tab.wait_for_load_state()


def tile(page: Any, key: str) -> str:
    return page.tab.inner_text(f"[data-kpi='{key}'] .value").replace("⚠", "").strip()


def plotted(page: Any, chart: str) -> dict[str, list[Any]]:
    """The y values Plotly drew, by trace name (read from the chart's DOM node)."""
    traces = page.tab.evaluate(
        f"() => document.getElementById('{chart}').data.map(t => [t.name, Array.from(t.y)])"
    )
    return dict(traces)


def figures_of(buckets: list[dict[str, Any]], granularity: str) -> tuple[list, list]:
    """What the presence chart draws for the API's buckets: days off apart."""
    present, absent = [], []
    for b in buckets:
        off = b.get("school_day") is False if granularity == "day" else not b["counted_days"]
        present.append(b["present"])
        absent.append(None if off else b["absent"])
    return present, absent


def test_district_admin_from_login_to_a_pupil(app, world, open_page):
    page = open_page()
    page.goto("/")
    assert "/dashboard/login" in page.tab.url
    page.screenshot("01-login")
    log_in(page, world.district)

    # Overview: every school with today's figures, equal to the API's.
    assert page.tab.url.endswith("/dashboard/")
    today = api(app, world, f"/api/attendances/aggregate/school/{world.school_id}")
    row = page.tab.locator(f"tr[data-school-id='{world.school_id}']")
    assert row.locator("[data-field='enrolled']").inner_text() == str(today["enrolled"])
    assert row.locator("[data-field='present']").inner_text() == str(today["presences"])
    assert row.locator("[data-field='absent']").inner_text() == str(today["absences"])
    assert int(row.locator("[data-field='in_school']").inner_text()) == 2
    assert "1" in row.locator("[data-field='fever_alerts']").inner_text()
    assert page.tab.locator(f"tr[data-school-id='{world.other_id}']").count() == 1
    page.screenshot("02-overview")

    # The school: tiles, four charts, the fever table, the data-quality panel.
    row.locator("a").click()
    page.tab.wait_for_load_state()
    page.charts_drawn("chart-presence", "chart-rate", "chart-arrivals", "chart-temperatures")
    assert tile(page, "enrolled") == str(today["enrolled"])
    assert tile(page, "present") == str(today["presences"])
    assert tile(page, "absent") == str(today["absences"])
    assert tile(page, "in_school") == "2"
    assert tile(page, "fever_alerts") == "1"
    assert page.tab.locator("#fever-events tr.fever").count() >= 1
    page.screenshot("03-school-by-day")

    for granularity in ("day", "week", "month"):
        if granularity != "day":
            page.tab.click(f"a[data-granularity='{granularity}']")
            page.tab.wait_for_load_state()
            page.charts_drawn("chart-presence", "chart-rate")
        start = page.tab.input_value("#from")
        end = page.tab.input_value("#to")
        doc = api(
            app,
            world,
            f"/api/attendances/aggregate/school/{world.school_id}"
            f"?from={start}&to={end}&granularity={granularity}",
        )
        drawn = plotted(page, "chart-presence")
        present, absent = figures_of(doc["buckets"], granularity)
        assert drawn["Present"] == present, granularity
        assert drawn["Absent"] == absent, granularity
        summary = page.tab.locator("#summary")
        assert summary.get_attribute("data-presences") == str(doc["presences"])
        assert summary.get_attribute("data-absences") == str(doc["absences"])
        if granularity == "week":
            page.screenshot("04-school-by-week")

    # The CSV of the report on screen equals the API's document.
    with page.tab.expect_download() as download:
        page.tab.click("#csv-link")
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert [(r["start"], r["end"], r["present"], r["absent"]) for r in rows[:-1]] == [
        (b["start"], b["end"], _cell(b["present"]), _cell(b["absent"])) for b in doc["buckets"]
    ]
    assert (rows[-1]["present"], rows[-1]["absent"]) == (
        _cell(doc["presences"]),
        _cell(doc["absences"]),
    )

    # Users: search, then the pupil with a fever today.
    page.tab.click("nav.tabs >> text=Users")
    page.tab.wait_for_load_state()
    assert page.tab.locator("#users-table tbody tr").count() == 24
    page.screenshot("05-users")
    fever_name = page.tab.locator(f"tr[data-user-id='{world.fever_user_id}'] th a").inner_text()
    page.tab.fill("#q", fever_name.split()[0])
    page.tab.click("form[role=search] button")
    page.tab.wait_for_load_state()
    page.tab.click(f"tr[data-user-id='{world.fever_user_id}'] th a")
    page.tab.wait_for_load_state()
    page.charts_drawn("chart-calendar", "chart-hours", "chart-user-temperatures")
    assert page.tab.locator("#fever-readings-table tr.fever").count() >= 1
    assert "still in" in page.tab.inner_text("#sessions-table")
    page.screenshot("06-user")

    # Sign out: the pages need a login again.
    page.tab.click("header button:has-text('Sign out')")
    page.tab.wait_for_load_state()
    assert "/dashboard/login" in page.tab.url
    page.goto(f"/dashboard/schools/{world.school_id}")
    assert "/dashboard/login" in page.tab.url


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def test_school_admin_sees_only_their_school(world, open_page):
    page = open_page()
    log_in(page, world.school_admin)
    assert page.tab.url.endswith(f"/dashboard/schools/{world.school_id}")
    page.charts_drawn("chart-presence")
    assert page.tab.locator("#switch-school").count() == 0
    response = page.goto(f"/dashboard/schools/{world.other_id}")
    assert response.status == 403
    assert "belongs to another school" in page.tab.inner_text("main")
    page.screenshot("07-school-admin-forbidden")
    assert page.goto(f"/dashboard/schools/{world.other_id}/report.csv").status == 403
    page.errors.clear()  # the 403s above are logged by the browser as failed loads


def test_phone_sized_screen(world, open_page):
    page = open_page(PHONE)
    log_in(page, world.district)
    page.goto(f"/dashboard/schools/{world.school_id}")
    page.charts_drawn("chart-presence", "chart-rate", "chart-arrivals", "chart-temperatures")
    page.screenshot("08-school-phone")
    for path in (
        "/dashboard/",
        f"/dashboard/schools/{world.school_id}",
        f"/dashboard/schools/{world.school_id}/users",
        f"/dashboard/schools/{world.school_id}/settings",
        f"/dashboard/schools/{world.school_id}/users/{world.fever_user_id}",
    ):
        page.goto(path)
        width = page.tab.evaluate("() => document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"{path} scrolls sideways on a phone"
    page.screenshot("11-user-phone")


def test_progress_bar_then_charts_without_a_reload(app, world, open_page):
    """A long report: the bar follows the chunks, then the charts appear in the same page."""
    from attendance.jobs.queue import InlineDispatcher

    today = clock.now().astimezone(ZoneInfo(TZ)).date()
    start, end = today - dt.timedelta(days=120), today - dt.timedelta(days=61)
    background = InlineDispatcher(app)  # jobs on a thread, as `make run` does
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(app.config, "DASHBOARD_REPORT_WAIT", 0)
        faults.install(patch, chunk_sleep=0.04)
        patch.setitem(app.extensions, "attendance.dispatcher", background)
        page = open_page()
        log_in(page, world.district)
        page.goto(f"/dashboard/schools/{world.school_id}?from={start}&to={end}&granularity=week")
        page.tab.wait_for_selector("[data-progress] progress")
        page.tab.evaluate("() => { window.samePage = true; }")
        page.tab.wait_for_function(
            "() => document.querySelector('[data-progress] progress')?.value > 0"
        )
        page.screenshot("09-progress")
        page.charts_drawn("chart-presence", "chart-rate")
        assert page.tab.evaluate("() => window.samePage") is True  # no reload happened
        assert page.tab.locator("[data-progress]").count() == 0

        # A report that fails shows its message.
        # A failing date needs a chunk job, which only a date with events gets.
        failing = start - dt.timedelta(1)
        with app.app_context():
            noon = dt.datetime.combine(failing, dt.time(12), ZoneInfo(TZ))
            db.session.add(
                Attendance(
                    user_id=world.fever_user_id,
                    school_id=world.school_id,
                    type="checkin",
                    timestamp=noon,
                    temperature=Decimal("36.6"),
                )
            )
            db.session.commit()
            db.session.remove()
        faults.install(patch, fail_days=[failing])
        first = start - dt.timedelta(days=3)
        page.goto(f"/dashboard/schools/{world.school_id}?from={first}&to={start}")
        page.tab.wait_for_selector(".alert.error")
        assert "could not compute" in page.tab.inner_text(".alert.error")
        page.screenshot("10-failed-report")
    background.executor.shutdown(wait=True)
