"""Dashboard fixtures: admins, a signed-in client, and the CSRF token of a page."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest
from flask import g
from flask.testing import FlaskClient

from attendance.dashboard import auth

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


@dataclass
class StubAdmin:
    id: int
    email: str
    password: str
    role: str
    school_id: int | None
    disabled: bool = False


@pytest.fixture
def make_admin(monkeypatch):
    """Admin accounts (a stand-in for attendance.security.admins until it lands)."""
    accounts: dict[int, StubAdmin] = {}

    def authenticate(email: str, password: str):
        for admin in accounts.values():
            if admin.email == email and admin.password == password and not admin.disabled:
                return admin
        return None

    monkeypatch.setattr(auth, "authenticate", authenticate)
    monkeypatch.setattr(auth, "load_admin", accounts.get)

    def make(role: str = "district", school_id: int | None = None, **fields: Any) -> StubAdmin:
        admin = StubAdmin(
            id=len(accounts) + 1,
            email=fields.pop("email", f"admin{len(accounts) + 1}@example.org"),
            password=fields.pop("password", PASSWORD),
            role=role,
            school_id=school_id,
            **fields,
        )
        accounts[admin.id] = admin
        return admin

    return make


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
