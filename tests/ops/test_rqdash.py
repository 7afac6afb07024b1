"""rq-dashboard at /ops/rq: only with Redis, only for district admins, only for reading."""

from __future__ import annotations

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
