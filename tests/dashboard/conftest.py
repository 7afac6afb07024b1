"""Dashboard fixtures: admins, a signed-in client, and the CSRF token of a page."""

from __future__ import annotations

import re
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
