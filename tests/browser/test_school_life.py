"""School life in Chromium: an admin marks a pupil's day through the pupil page's form and
watches the figures change on that page and on the school page, equal to the API's."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask

from attendance import clock
from attendance.extensions import db
from attendance.models import Attendance, Enrolment, School, User
from tests.conftest import clock_pinned, wipe

from .conftest import DESKTOP, PHONE

pytestmark = pytest.mark.browser

PASSWORD = "browser-test-password"
DAYS = 10
NAMES = ("Amara Okafor", "Ben Carter", "Chloé Dubois", "Dev Patel", "Eva Novak", "Finn Murphy")


@dataclass
class World:
    school_id: int
    other_id: int
    pupil_id: int
    forgetful_id: int  # forgets to check out now and then
    start: dt.date
    today: dt.date
    district: str
    token: str


def at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def world(app: Flask) -> Iterator[World]:
    """A school (UTC, every day a school day, late after 08:30, the day ends at 15:00)
    with six pupils enrolled ten days ago: some late, a check-out forgotten now and then.

    The app's clock is pinned for the module: one that runs over midnight would see
    another today than the world's."""
    with clock_pinned():
        yield from _world(app)


def _world(app: Flask) -> Iterator[World]:
    from attendance.security import admins, tokens

    today = clock.now().astimezone(dt.UTC).date()
    start = today - dt.timedelta(days=DAYS)
    with app.app_context():
        school = School(
            name="Hillside Primary",
            timezone="UTC",
            school_days=[1, 2, 3, 4, 5, 6, 7],
            late_after=dt.time(8, 30),
            day_end=dt.time(15),
        )
        other = School(name="Riverside Academy", timezone="UTC")
        db.session.add_all([school, other])
        db.session.flush()
        pupils = [User(name=n, school_id=school.id, group="5B") for n in NAMES]
        db.session.add_all(pupils)
        db.session.flush()
        db.session.add_all(
            Enrolment(user_id=u.id, school_id=school.id, from_=start) for u in pupils
        )
        for n in range(DAYS):
            day = start + dt.timedelta(days=n)
            for i, pupil in enumerate(pupils):
                if (n + i) % 5 == 4:
                    continue  # absent
                arrive = at(day, 8, 10 + 5 * i) if (n * i) % 4 else at(day, 9, 5)
                events = [("checkin", arrive)]
                if not (i == 3 and n % 3 == 0):  # Dev sometimes forgets to check out
                    events.append(("checkout", at(day, 14, 30)))
                db.session.add_all(
                    Attendance(
                        user_id=pupil.id,
                        school_id=school.id,
                        type=kind,
                        timestamp=when,
                        temperature=Decimal("36.6"),
                    )
                    for kind, when in events
                )
        district = admins.create_admin("district-life@example.org", PASSWORD, "district")
        _row, token = tokens.create_token("district", None, "school life browser tests")
        db.session.commit()
        world = World(
            school.id, other.id, pupils[0].id, pupils[3].id, start, today, district.email, token
        )
        db.session.remove()
    yield world
    wipe(app)


def api(app: Flask, world: World, path: str) -> Any:
    client = app.test_client()
    resp = client.get(path, headers={"Authorization": f"Bearer {world.token}"})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.json["data"]


def aggregate(app: Flask, world: World) -> dict[str, Any]:
    """The API's day report of the pages' range (the last four weeks), users listed."""
    start = world.today - dt.timedelta(days=27)
    return api(
        app,
        world,
        f"/api/attendances/aggregate/school/{world.school_id}"
        f"?from={start}&to={world.today}&users=true&wait=10",
    )


def pupil_figures(app: Flask, world: World) -> dict[str, Any]:
    doc = aggregate(app, world)
    return next(u for u in doc["users"] if u["user_id"] == world.pupil_id)


def log_in(page: Any, email: str) -> None:
    page.goto("/dashboard/login")
    page.tab.fill("#email", email)
    page.tab.fill("#password", PASSWORD)
    page.tab.click("button[type=submit]")
    page.tab.wait_for_load_state()


def tile(page: Any, key: str) -> str:
    return page.tab.inner_text(f"[data-kpi='{key}'] .value").strip()


def tiles_equal_the_api(page: Any, figures: dict[str, Any]) -> None:
    for key in ("present_days", "absent_days", "excused_days", "late_days"):
        assert tile(page, key) == str(figures[key]), key


def school_day_row(page: Any, world: World, day: dt.date) -> dict[str, str]:
    """The school page's presence-table row of a date (its numbers)."""
    index = (day - (world.today - dt.timedelta(days=27))).days
    row = page.tab.locator("#presence-table tbody tr").nth(index)
    cells = [c.strip() for c in row.locator("td").all_text_contents()]  # in a closed <details>
    return {"present": cells[1], "absent": cells[2], "excused": cells[3], "late": cells[5]}


def check_school_page(app: Flask, page: Any, world: World, day: dt.date) -> dict[str, str]:
    """Open the school page; its row of `day` and its late chart equal the API's."""
    page.goto(f"/dashboard/schools/{world.school_id}")
    page.charts_drawn("chart-presence", "chart-late")
    doc = aggregate(app, world)
    bucket = next(b for b in doc["buckets"] if b["date"] == str(day))
    row = school_day_row(page, world, day)
    assert row == {
        "present": str(bucket["present"]),
        "absent": str(bucket["absent"]),
        "excused": str(bucket["excused"]),
        "late": str(bucket["late"]),
    }
    drawn = page.tab.evaluate("() => Array.from(document.getElementById('chart-late').data[0].y)")
    assert drawn == [b["late"] for b in doc["buckets"]]
    return row


def test_mark_a_day_then_clear_it_then_a_range(app, world, open_page):
    page = open_page(DESKTOP)
    log_in(page, world.district)
    # A day the pupil was present (by the gate's times).
    before = pupil_figures(app, world)
    day = next(world.start + dt.timedelta(days=n) for n in range(DAYS) if n % 5 != 4)
    school_before = check_school_page(app, page, world, day)

    # Open the pupil from the users list.
    page.tab.click("nav.tabs >> text=Users")
    page.tab.wait_for_load_state()
    page.tab.click(f"tr[data-user-id='{world.pupil_id}'] th a")
    page.tab.wait_for_load_state()
    page.charts_drawn("chart-calendar", "chart-hours")
    pupil_url = page.tab.url
    tiles_equal_the_api(page, before)

    # Mark the day absent, excused.
    page.tab.fill("#mark-date", str(day))
    page.tab.select_option("#mark-status", "absent")
    page.tab.check("#mark-excused")
    page.tab.fill("#mark-reason", "Sick note from her mother")
    page.tab.click("#mark-form button[type=submit]")
    page.tab.wait_for_load_state()
    page.charts_drawn("chart-calendar")
    assert f"Marked absent, excused on {day}" in page.tab.inner_text("main")
    after = pupil_figures(app, world)
    assert after["excused_days"] == before["excused_days"] + 1
    assert after["present_days"] == before["present_days"] - 1
    tiles_equal_the_api(page, after)
    row = page.tab.locator(f"#calendar-table tr[data-day='{day}']")
    assert row.get_attribute("data-status") == "excused"
    assert "Sick note from her mother" in row.text_content()
    assert world.district in row.text_content()
    assert page.tab.locator("#marks-table tbody tr").count() == 1
    page.screenshot("20-pupil-marked")

    school_after = check_school_page(app, page, world, day)
    assert int(school_after["excused"]) == int(school_before["excused"]) + 1
    assert int(school_after["present"]) == int(school_before["present"]) - 1
    page.screenshot("21-school-life")

    # Clear it: everything as before.
    page.goto(pupil_url.replace(page.base, ""))
    page.tab.click(f"#marks-table button[aria-label='Clear the mark on {day}']")
    page.tab.wait_for_load_state()
    assert f"The mark on {day} was cleared" in page.tab.inner_text("main")
    tiles_equal_the_api(page, before)
    assert pupil_figures(app, world) == before
    assert page.tab.locator("#marks-table").count() == 0
    page.tab.click("#mark-history summary")
    assert page.tab.locator("#history-table tbody tr").count() == 2
    assert check_school_page(app, page, world, day) == school_before

    # A planned absence: yesterday to the day after tomorrow.
    page.goto(pupil_url.replace(page.base, ""))
    first, last = world.today - dt.timedelta(days=1), world.today + dt.timedelta(days=2)
    page.tab.fill("#mark-from", str(first))
    page.tab.fill("#mark-to", str(last))
    page.tab.fill("#mark-reason", "Family wedding")
    page.tab.click("#mark-form button[type=submit]")
    page.tab.wait_for_load_state()
    assert "Marked absent on 4 school days" in page.tab.inner_text("main")
    assert page.tab.locator("#marks-table tbody tr").count() == 4
    planned = pupil_figures(app, world)
    tiles_equal_the_api(page, planned)
    page.screenshot("22-pupil-planned")

    # A refused form says which field and keeps what was typed.
    page.tab.fill("#mark-date", str(world.today + dt.timedelta(days=3)))
    page.tab.select_option("#mark-status", "present")
    page.tab.fill("#mark-reason", "Back early")
    page.tab.click("#mark-form button[type=submit]")
    page.tab.wait_for_load_state()
    assert "a present mark may not be given" in page.tab.inner_text("#mark-date-error")
    assert page.tab.input_value("#mark-reason") == "Back early"
    page.charts_drawn("chart-calendar")
    page.errors.clear()  # the 422 is logged by the browser as a failed load


@pytest.mark.parametrize(("size", "viewport"), [("desktop", DESKTOP), ("phone", PHONE)])
def test_screenshots_of_the_pupil_and_school_pages(world, open_page, size, viewport):
    page = open_page(viewport)
    log_in(page, world.district)
    for name, path, charts in (
        ("pupil", f"/dashboard/schools/{world.school_id}/users/{world.forgetful_id}",
         ("chart-calendar", "chart-hours")),
        ("school", f"/dashboard/schools/{world.school_id}", ("chart-presence", "chart-late")),
    ):  # fmt: skip
        page.goto(path)
        page.charts_drawn(*charts)
        width = page.tab.evaluate("() => document.documentElement.scrollWidth")
        assert width <= viewport["width"], f"{path} scrolls sideways at {size} width"
        page.screenshot(f"23-{name}-{size}")
