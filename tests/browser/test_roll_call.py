"""The roll call in Chromium, at phone width: two phones ticking at once, a phone that goes
offline (and reloads there), the paper list printed to PDF. Ticks are checked via the API."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask

from attendance import clock
from attendance.extensions import db
from attendance.models import Attendance, Enrolment, School, User
from tests.conftest import wipe

from .conftest import PHONE

pytestmark = pytest.mark.browser

PASSWORD = "browser-test-password"
NAMES = [
    ("Amara Okafor", "5A"),
    ("Ben Carter", "5A"),
    ("Chloé Dubois", "5A"),
    ("Dev Patel", "5A"),
    ("Elif Yılmaz", "5B"),
    ("Finn O'Brien", "5B"),
    ("Grace Mensah", "5B"),
    ("Hugo Schmidt", "5B"),
    ("Isla Nakamura", "6A"),
    ("Jonah Levi", "6A"),
]
ABSENT = [("Kofi Boateng", "6A"), ("Lena Novak", "5B")]  # never came through the gate


@dataclass
class World:
    school_id: int
    pupils: dict[str, int]
    admin: str
    token: str


@pytest.fixture
def world(app: Flask) -> Iterator[World]:
    """A school with ten pupils checked in a little while ago, two who are not, an admin."""
    from attendance.security import admins, tokens

    now = clock.now()
    midnight = dt.datetime.combine(now.date(), dt.time(), tzinfo=dt.UTC)
    arrived = now - min(dt.timedelta(hours=1), (now - midnight) / 2)
    with app.app_context():
        school = School(name="Hillside Primary", timezone="UTC")
        db.session.add(school)
        db.session.flush()
        pupils = {}
        for number, (name, group) in enumerate(NAMES + ABSENT, start=1):
            user = User(name=name, school_id=school.id, group=group, external_id=f"P{number:03}")
            db.session.add(user)
            db.session.flush()
            db.session.add(Enrolment(user_id=user.id, school_id=school.id))
            pupils[name] = user.id
            if (name, group) in NAMES:
                db.session.add(
                    Attendance(
                        user_id=user.id,
                        school_id=school.id,
                        type="checkin",
                        timestamp=arrived,
                        temperature=Decimal("36.6"),
                    )
                )
        admin = admins.create_admin("head@example.org", PASSWORD, "school", school.id)
        _row, token = tokens.create_token("district", None, "browser tests")
        db.session.commit()
        made = World(school.id, pupils, admin.email, token)
        db.session.remove()
    yield made
    wipe(app)


def api(app: Flask, world: World, method: str, path: str) -> Any:
    client = app.test_client()
    resp = client.open(path, method=method, headers={"Authorization": f"Bearer {world.token}"})
    assert resp.status_code in (200, 201), resp.get_data(as_text=True)
    return resp.json["data"]


def phone(open_page: Any, world: World, then: str = "") -> Any:
    """A phone-sized browser context, signed in as the school's admin (then at `then`)."""
    page = open_page(PHONE)
    page.goto("/dashboard/login" + (f"?next={then}" if then else ""))
    page.tab.fill("#email", world.admin)
    page.tab.fill("#password", PASSWORD)
    page.tab.click("button[type=submit]")
    # Signed in once the session's redirect comes back (the school page's charts: no need).
    page.tab.wait_for_url(lambda url: "/login" not in url, wait_until="commit")
    return page


def start_from_the_school_page(page: Any, world: World, shot: str = "") -> int:
    # The school page computes its reports first: slow on a busy machine.
    page.tab.goto(
        page.base + f"/dashboard/schools/{world.school_id}", wait_until="commit", timeout=90000
    )
    page.tab.wait_for_selector("#roll-call-button", timeout=90000)
    if shot:  # the top of the page, where the button is
        page.tab.screenshot(path=str(page.screenshot(shot)))
    page.tab.click("#roll-call-button")
    page.tab.wait_for_selector("#rc-list .rc-pupil")
    return int(page.tab.locator("#roll-call").get_attribute("data-roll-call-id"))


def started_by_api(app: Flask, open_page: Any, world: World) -> tuple[Any, int]:
    """A roll call started through the API, and a phone signed in on its page."""
    roll_call = api(app, world, "POST", f"/api/schools/{world.school_id}/roll-calls")
    page = phone(open_page, world, then=f"/dashboard/roll-calls/{roll_call['id']}")
    page.tab.wait_for_selector("#rc-list .rc-pupil")
    return page, roll_call["id"]


def pupil(page: Any, world: World, name: str) -> Any:
    return page.tab.locator(f"#rc-list button[data-user-id='{world.pupils[name]}']")


def wait_accounted(page: Any, world: World, name: str, pressed: str = "true") -> None:
    selector = f"#rc-list button[data-user-id='{world.pupils[name]}'][aria-pressed='{pressed}']"
    page.tab.wait_for_selector(selector, timeout=10000)


def wait_all_sent(page: Any) -> None:
    page.tab.wait_for_selector("#rc-net[data-state='online'][data-pending='0']", timeout=15000)


def entries_by_user(app: Flask, world: World, roll_call_id: int) -> dict[int, int]:
    doc = api(app, world, "GET", f"/api/roll-calls/{roll_call_id}?entries=true")
    counted: dict[int, int] = {}
    for entry in doc["entries"]:
        counted[entry["user_id"]] = counted.get(entry["user_id"], 0) + 1
    return counted


def test_two_phones_tick_at_once_and_see_each_others_ticks(app, world, open_page):
    first, second = phone(open_page, world), phone(open_page, world)
    roll_call_id = start_from_the_school_page(first, world, shot="rollcall-01-school-page-button")
    assert first.tab.inner_text(".rc-count") == "0 of 10 accounted"
    first.screenshot("rollcall-02-phone-start")
    # The second phone presses the same button: it lands on the same roll call.
    assert start_from_the_school_page(second, world) == roll_call_id

    # Missing first: all ten expected pupils, none of the two who never came in.
    shown = first.tab.locator("#rc-list .rc-pupil").count()
    assert shown == 10
    assert pupil(first, world, "Kofi Boateng").count() == 0

    # Both phones tick at once, different pupils.
    for name in ("Amara Okafor", "Ben Carter"):
        pupil(first, world, name).click()
    for name in ("Elif Yılmaz", "Finn O'Brien", "Grace Mensah"):
        pupil(second, world, name).click()
    for name in ("Elif Yılmaz", "Finn O'Brien", "Grace Mensah"):
        wait_accounted(first, world, name)
    for name in ("Amara Okafor", "Ben Carter"):
        wait_accounted(second, world, name)
    for page in (first, second):
        wait_all_sent(page)
        page.tab.wait_for_function(
            "() => document.querySelector('.rc-count').innerText === '5 of 10 accounted'"
        )
    # Missing pupils stay on top.
    states = first.tab.eval_on_selector_all(
        "#rc-list .rc-pupil", "els => els.map(e => e.getAttribute('aria-pressed'))"
    )
    assert states == ["false"] * 5 + ["true"] * 5
    first.screenshot("rollcall-03-phone-five-ticked")

    # Search by pupil number finds a pupil who was not expected; ticking them counts apart.
    first.tab.fill("#rc-q", "P011")
    pupil(first, world, "Kofi Boateng").click()
    wait_accounted(first, world, "Kofi Boateng")
    first.tab.fill("#rc-q", "")
    first.tab.select_option("#rc-group", "5A")
    names = first.tab.eval_on_selector_all("#rc-list .rc-name", "els => els.map(e => e.innerText)")
    assert sorted(names) == ["Amara Okafor", "Ben Carter", "Chloé Dubois", "Dev Patel"]
    wait_all_sent(first)

    doc = api(app, world, "GET", f"/api/roll-calls/{roll_call_id}")
    ticked = {"Amara Okafor", "Ben Carter", "Elif Yılmaz", "Finn O'Brien", "Grace Mensah"}
    assert {p["name"] for p in doc["accounted"]} == ticked | {"Kofi Boateng"}
    assert [p["name"] for p in doc["unexpected"]] == ["Kofi Boateng"]
    assert doc["counts"]["missing"] == 5
    assert set(entries_by_user(app, world, roll_call_id).values()) == {1}

    # Undo from the other phone: the first one sees it go.
    pupil(second, world, "Ben Carter").click()
    first.tab.select_option("#rc-group", "")
    wait_accounted(first, world, "Ben Carter", pressed="false")


def test_a_phone_offline_keeps_its_ticks_and_sends_each_once(app, world, open_page):
    page, roll_call_id = started_by_api(app, open_page, world)
    # The service worker has the page and its files: it will open without a network.
    page.tab.wait_for_selector("#roll-call[data-offline-ready='true']", timeout=15000)

    # A tick whose answer is lost on the way back: the server has it, the phone does not know.
    lost = []

    def lose_answer(route: Any) -> None:
        if not lost:
            lost.append(route.fetch().status)
            route.abort()
        else:
            route.continue_()

    page.tab.route("**/accounted", lose_answer)
    pupil(page, world, "Amara Okafor").click()
    page.tab.wait_for_function("() => document.querySelectorAll('.rc-pending').length === 0")
    assert lost == [201]
    wait_all_sent(page)

    page.context.set_offline(True)
    for name in ("Dev Patel", "Hugo Schmidt", "Jonah Levi"):
        pupil(page, world, name).click()
    page.tab.wait_for_selector("#rc-net[data-state='offline'][data-pending='3']")
    assert page.tab.locator(".rc-pending").count() == 3
    assert page.tab.inner_text(".rc-count") == "4 of 10 accounted"
    page.screenshot("rollcall-04-phone-offline-not-yet-sent")

    # The network is still down: a reload opens the page from the service worker's cache,
    # with the unsent ticks still there.
    response = page.tab.reload()
    assert response is not None and response.from_service_worker
    page.tab.wait_for_selector("#rc-list .rc-pupil")
    # The copy kept when the page first opened (before any tick), not a fresh one.
    kept = page.tab.evaluate(
        "() => JSON.parse(document.getElementById('roll-call-data').textContent).accounted"
    )
    assert kept == []
    assert page.tab.locator(".rc-pending").count() == 3
    page.tab.wait_for_selector("#rc-net[data-state='offline']")
    page.screenshot("rollcall-05-phone-reloaded-offline")
    assert entries_by_user(app, world, roll_call_id) == {world.pupils["Amara Okafor"]: 1}

    page.context.set_offline(False)
    wait_all_sent(page)
    assert page.tab.locator(".rc-pending").count() == 0
    page.screenshot("rollcall-06-phone-back-online")
    expected_once = {
        world.pupils[n]: 1 for n in ("Amara Okafor", "Dev Patel", "Hugo Schmidt", "Jonah Levi")
    }
    assert entries_by_user(app, world, roll_call_id) == expected_once
    doc = api(app, world, "GET", f"/api/roll-calls/{roll_call_id}")
    assert doc["counts"]["accounted"] == 4
    # Chromium logs each request that failed while offline (and the answer we cut): expected.
    cut = ("net::ERR_INTERNET_DISCONNECTED", "net::ERR_FAILED")
    page.errors[:] = [e for e in page.errors if not e.endswith(cut)]


def test_the_paper_list_prints_the_expected_names_by_group(app, world, open_page):
    from pypdf import PdfReader

    page, roll_call_id = started_by_api(app, open_page, world)
    page.goto(f"/dashboard/roll-calls/{roll_call_id}/reconcile")
    page.screenshot("rollcall-07-reconcile")
    page.goto(f"/dashboard/roll-calls/{roll_call_id}/print")
    page.tab.emulate_media(media="print")
    page.screenshot("rollcall-08-print-view")
    pdf = page.tab.pdf(format="A4")
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
    for name, _group in NAMES:
        assert name in text, name
    for name, _group in ABSENT:
        assert name not in text, name
    assert text.index("5A") < text.index("Amara Okafor") < text.index("5B") < text.index("Elif")
    assert "Sign out" not in text  # the print stylesheet hides the top bar
