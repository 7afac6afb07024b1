"""Dashboard fixtures: admins, a signed-in client, and the CSRF token of a page."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest
from flask import g
from flask.testing import FlaskClient

from attendance.dashboard import auth, pipeline

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


def empty_result(start: dt.date, end: dt.date, granularity: str) -> dict:
    """A well-formed result with nobody enrolled."""
    if granularity == "day":
        days = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
        buckets = [
            {"date": d.isoformat(), "school_day": True, "present": 0, "absent": 0} for d in days
        ]
    else:
        buckets = [
            {
                "start": start.isoformat(),
                "end": end.isoformat(),
                "counted_days": 0,
                "present": None,
                "absent": None,
            }
        ]
    return {
        "enrolled": 0,
        "presences": 0,
        "absences": 0,
        "buckets": buckets,
        "per_user": {},
        "days": {},
    }


class FakePipeline:
    """A stand-in for attendance.services.reports: each test gives the results it needs."""

    def __init__(self) -> None:
        self.records: dict[str, SimpleNamespace] = {}
        self.results: dict[tuple, dict] = {}
        self.status = "finished"
        self.error: str | None = None
        self.requests: list[tuple] = []

    def request_report(self, school_id, start, end, granularity, now=None):
        key = (school_id, start, end, granularity)
        self.requests.append(key)
        record = SimpleNamespace(
            id=str(uuid.uuid4()),
            school_id=school_id,
            start=start,
            end=end,
            granularity=granularity,
            status=self.status,
            chunks_total=4,
            chunks_done=4 if self.status == "finished" else 1,
            error=self.error,
            result=self.results.get(key) or empty_result(start, end, granularity),
        )
        self.records[record.id] = record
        return record

    def load(self, ids):
        return [self.records[i] for i in ids if i in self.records]


@pytest.fixture
def reports(monkeypatch) -> FakePipeline:
    fake = FakePipeline()
    monkeypatch.setattr(pipeline, "_service", lambda: fake)
    monkeypatch.setattr(pipeline, "load", fake.load)
    return fake
