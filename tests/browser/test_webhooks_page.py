"""The webhooks page in Chromium: subscribe, secret shown once, deliveries, redeliver, rotate."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from flask import Flask
from sqlalchemy import select

from attendance.extensions import db
from attendance.models import Enrolment, School, User
from attendance.security import admins, tokens
from attendance.webhook_models import Webhook
from tests.conftest import wipe

from ..receiver import running_receiver, verify

pytestmark = pytest.mark.browser

PASSWORD = "browser-test-password"


def log_in(page, email: str) -> None:
    """Sign in, straight to the webhooks page (the school page's charts are not under test)."""
    page.goto("/dashboard/login?next=/dashboard/webhooks")
    page.tab.fill("#email", email)
    page.tab.fill("#password", PASSWORD)
    page.tab.click("button[type=submit]")
    page.tab.wait_for_load_state()


@dataclass
class World:
    school_id: int
    pupil_id: int
    device_token: str


@pytest.fixture
def world(app: Flask) -> Iterator[World]:
    """A school with a pupil, its admin and a gate device; another school."""
    with app.app_context():
        school = School(name="Hillside Primary")
        db.session.add_all([school, School(name="Riverside Academy")])
        db.session.flush()
        pupil = User(name="Ada", school_id=school.id)
        db.session.add(pupil)
        db.session.flush()
        db.session.add(Enrolment(user_id=pupil.id, school_id=school.id))
        admins.create_admin("head@hillside.example", PASSWORD, "school", school.id)
        _row, token = tokens.create_token("device", school.id, "gate")
        db.session.commit()
        made = World(school.id, pupil.id, token)
        db.session.remove()
    # No app context stays pushed: each request, the server's or the test's, makes its own.
    yield made
    wipe(app)


def test_a_school_admin_subscribes_and_follows_deliveries(app, open_page, world):
    page = open_page()
    log_in(page, "head@hillside.example")
    with running_receiver() as receiver:
        page.tab.wait_for_selector("h1:has-text('Webhooks')")
        assert page.tab.locator("nav >> text=Webhooks").count() == 1
        # A school admin subscribes for their school only: no "All schools", no other school.
        options = page.tab.locator("#school_id option").all_inner_texts()
        assert options == ["Hillside Primary"]
        page.tab.fill("#url", receiver.url)
        page.tab.check("input[value='attendance.fever']")
        page.tab.click("button:has-text('Subscribe')")
        secret = page.tab.inner_text("#shown-secret").strip()
        assert secret.startswith("whsec_")
        row = page.tab.locator("#webhooks-table tbody tr")
        assert row.count() == 1
        assert "Enabled" in row.inner_text()
        page.screenshot("webhooks")
        # Reloaded, the page no longer shows the secret.
        page.goto("/dashboard/webhooks")
        assert secret not in page.tab.content()

        reading = {
            "user_id": world.pupil_id,
            "school_id": world.school_id,
            "type": "checkin",
            "temperature": 38.9,
        }
        answer = app.test_client().post(
            "/api/attendances",
            json=reading,
            headers={"Authorization": f"Bearer {world.device_token}"},
        )
        assert answer.status_code == 201
        [first] = receiver.wait_for(1)
        assert verify(secret, first.headers, first.body)["data"]["user_id"] == world.pupil_id

        page.tab.click(f"#webhooks-table a:has-text('{receiver.url}')")
        delivery = page.tab.locator("#deliveries-table tbody tr")
        assert delivery.count() == 1
        assert delivery.locator(".status").inner_text() == "delivered"
        assert delivery.locator(".tries").inner_text() == "1"
        assert delivery.locator(".code").inner_text() == "200"
        page.tab.click("#deliveries-table button:has-text('Redeliver')")
        page.tab.wait_for_selector(".alert:has-text('Sent again')")
        assert page.tab.locator("#deliveries-table .tries").inner_text() == "2"
        again = receiver.wait_for(2)
        assert again[1].headers["webhook-id"] == first.headers["webhook-id"]

        page.tab.click("text=All webhooks")
        page.tab.click("#webhooks-table button:has-text('Rotate secret')")
        rotated = page.tab.inner_text("#shown-secret").strip()
        assert rotated.startswith("whsec_") and rotated != secret

    # After three days of failures the page says the subscription is disabled.
    with app.app_context():
        hook = db.session.scalars(select(Webhook)).one()
        hook.failing_since = hook.disabled_at = hook.created_at
        db.session.commit()
        db.session.remove()
    page.goto("/dashboard/webhooks")
    assert "Disabled" in page.tab.inner_text("#webhooks-table")
    page.tab.click("#webhooks-table button:has-text('Delete')")
    page.tab.wait_for_selector("text=No subscriptions yet.")
