"""Dashboard fixtures: admins, a signed-in client, and the CSRF token of a page."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

import pytest
from argon2 import PasswordHasher
from flask import g
from flask.testing import FlaskClient

from attendance.security import admins
from attendance.security.models import Admin

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
PASSWORD = "correct horse battery staple"


def csrf_token(client, url: str = "/dashboard/login") -> str:
    """The CSRF token a page's forms carry."""
    page = client.get(url)
    match = TOKEN.search(page.get_data(as_text=True))
    assert match, f"no CSRF token on {url}"
    return match.group(1)


class FreshClient(FlaskClient):
    """A test client whose every request starts with an empty `g`, as it does in production.

    The `db` fixture holds one app context for the whole test, and Flask reuses it for
    each request, so without this `g` (where flask-wtf caches the CSRF token) would leak
    from one request to the next.
    """

    def open(self, *args: Any, **kwargs: Any) -> Any:
        for name in list(g):
            g.pop(name)
        return super().open(*args, **kwargs)


@pytest.fixture
def client(app, db) -> FreshClient:
    return FreshClient(app, app.response_class, use_cookies=True)


@pytest.fixture(autouse=True)
def quick_passwords(monkeypatch):
    """Cheap argon2 parameters: the tests sign in often, and strength is not under test here."""
    monkeypatch.setattr(
        admins, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    )


@pytest.fixture
def make_admin(db):
    """Admin accounts (attendance.security.admins), with the password PASSWORD."""
    count = 0

    def make(role: str = "district", school_id: int | None = None, **fields: Any) -> Admin:
        nonlocal count
        count += 1
        email = fields.pop("email", f"admin{count}@example.org")
        admin = admins.create_admin(email, PASSWORD, role, school_id)
        if fields.pop("disabled", False):
            admins.set_disabled(admin, True)
        db.session.commit()
        return admin

    return make


@pytest.fixture
def api(client_as):
    """A client of the JSON API with a district token (to compare the pages with)."""
    return client_as("district")


@pytest.fixture
def login(client):
    """Sign the test client in as an admin."""

    def do(admin, password: str = PASSWORD):
        token = csrf_token(client)
        return client.post(
            "/dashboard/login",
            data={"email": admin.email, "password": password, "csrf_token": token},
        )

    return do


ALL_WEEK = [1, 2, 3, 4, 5, 6, 7]  # every date a school day: no dependence on today's weekday


def at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=dt.UTC)


@pytest.fixture
def hillside(make_school, make_user, make_event, frozen_now):
    """Three pupils over three days ending today (UTC, every day a school day), the clock
    pinned at 10:00 (`frozen_now`): a day that ends or begins during a test would move them.

    Two days ago: Ada and Brook 5 h each (present; Brook also an orphan checkout), Cyrus
    never checked out (unclosed: absent). Yesterday: nobody. Today: Ada (38.2 °C, a fever)
    and Brook checked in an hour ago and are still in.
    """
    school = make_school(name="Hillside Primary", school_days=ALL_WEEK)
    ada, brook, cyrus = (make_user(school=school, name=n) for n in ("Ada", "Brook", "Cyrus"))
    now = frozen_now.at
    today = now.date()
    days = [today - dt.timedelta(days=2), today - dt.timedelta(days=1), today]
    for pupil in (ada, brook):
        make_event(user=pupil, timestamp=at(days[0], 8))
        make_event(user=pupil, timestamp=at(days[0], 13), type="checkout")
    make_event(user=brook, timestamp=at(days[0], 7), type="checkout")
    make_event(user=cyrus, timestamp=at(days[0], 8))
    arrived = now - dt.timedelta(hours=1)
    make_event(user=ada, timestamp=arrived, temperature=Decimal("38.2"))
    make_event(user=brook, timestamp=arrived, temperature=Decimal("36.6"))
    return school, (ada, brook, cyrus), days
