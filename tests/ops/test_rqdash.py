"""rq-dashboard at /ops/rq: only with Redis, only for district admins, only for reading."""

from __future__ import annotations

import re

import pytest

from attendance.ops import access

from .conftest import CLOSED_REDIS

WRITES = [
    ("POST", "/ops/rq/job/some-job/delete"),
    ("POST", "/ops/rq/job/some-job/requeue"),
    ("POST", "/ops/rq/queue/reports/queued/empty"),
    ("POST", "/ops/rq/queue/reports/compact"),
    ("GET", "/ops/rq/requeue/reports"),
    ("POST", "/ops/rq/requeue/reports"),
]


def test_not_mounted_without_redis(client):
    assert client.get("/ops/rq/").status_code == 404


@pytest.mark.parametrize(("method", "path"), [("GET", "/ops/rq/"), *WRITES])
def test_refused_to_anyone_not_signed_in(db, make_app, method, path):
    app = make_app(REDIS_URL=CLOSED_REDIS)
    resp = app.test_client().open(path, method=method)
    # The dashboard's login redirect, or 401/403: never the page, never the action.
    assert resp.status_code in (302, 401, 403)


PASSWORD = "correct horse battery staple"  # noqa: S105 - a test account's


@pytest.fixture
def signed_in(db, make_school, monkeypatch):
    """A client of an app with Redis, signed in to the dashboard as a district or school admin."""
    from argon2 import PasswordHasher

    from attendance.security import admins

    # Cheap hashing: strength is not under test here.
    monkeypatch.setattr(
        admins, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    )

    def sign_in(app, role: str):
        school_id = make_school().id if role == "school" else None
        admin = admins.create_admin(f"{role}@example.org", PASSWORD, role, school_id)
        email = admin.email
        db.session.commit()
        client = app.test_client()
        page = client.get("/dashboard/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        form = {"email": email, "password": PASSWORD, "csrf_token": token}
        assert client.post("/dashboard/login", data=form).status_code == 302
        return client

    return sign_in


def test_visitors_are_sent_to_the_login(db, make_app):
    resp = make_app(REDIS_URL=CLOSED_REDIS).test_client().get("/ops/rq/")
    assert resp.status_code == 302
    assert resp.headers["Location"].startswith("/dashboard/login?next=/ops/rq/")


def test_school_admins_are_refused(db, make_app, signed_in):
    client = signed_in(make_app(REDIS_URL=CLOSED_REDIS), "school")
    assert client.get("/ops/rq/").status_code == 403


def test_a_signed_in_district_admin_sees_the_queues(db, make_app, redis_url, signed_in):
    client = signed_in(make_app(REDIS_URL=redis_url), "district")
    assert client.get("/ops/rq/").status_code == 200
    assert client.post("/ops/rq/job/x/delete").status_code == 405


@pytest.fixture
def admitted(monkeypatch):
    """As if a district admin were signed in."""
    monkeypatch.setattr(access, "require_district_admin", lambda: None)


def test_district_admins_read_the_queues(db, make_app, redis_url, admitted):
    app = make_app(REDIS_URL=redis_url)
    client = app.test_client()
    page = client.get("/ops/rq/")
    assert page.status_code == 200 and b"RQ" in page.data
    assert "'unsafe-eval'" in page.headers["Content-Security-Policy"]  # its templates need it
    queues = client.get("/ops/rq/0/data/queues.json")
    assert queues.status_code == 200
    assert "queues" in queues.get_json()


@pytest.mark.parametrize(("method", "path"), WRITES)
def test_no_changes_even_for_district_admins(db, make_app, redis_url, admitted, method, path):
    from redis import Redis
    from rq import Queue

    queue = Queue("reports", connection=Redis.from_url(redis_url))
    queue.enqueue_call(print, args=("kept",), job_id="some-job")
    app = make_app(REDIS_URL=redis_url)
    resp = app.test_client().open(path, method=method)
    assert resp.status_code == 405
    assert queue.count == 1 and queue.fetch_job("some-job") is not None
