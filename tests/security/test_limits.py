"""Rate limits on writes, per token, answering 429 with Retry-After."""

from __future__ import annotations

import os
import uuid

import pytest

from tests.conftest import IN_CI
from tests.conftest import event_body as event


def prepare(db, make_user, make_token, role="device"):
    """A user's check-in and a token; the test's session then holds no SQLite lock."""
    user = make_user()
    payload = event(user)
    token = make_token(role, payload["school_id"] if role != "district" else None)
    db.session.commit()  # and touch no row after this: reading one would take the lock again
    return payload, token, payload["user_id"]


def auth(token):
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def tiny_app(make_app):
    return make_app(RATELIMIT_WRITE="2/minute", RATELIMIT_KEY_PREFIX=f"t-{uuid.uuid4().hex}")


def test_writes_over_the_limit_get_429_with_retry_after(tiny_app, db, make_user, make_token):
    payload, token, _ = prepare(db, make_user, make_token)
    client = tiny_app.test_client()
    codes = [
        client.post("/api/attendances", json=payload, headers=auth(token)).status_code
        for _ in range(2)
    ]
    assert codes == [201, 201]
    resp = client.post("/api/attendances", json=payload, headers=auth(token))
    assert resp.status_code == 429
    assert "rate limit" in resp.json["errors"]["detail"]
    assert set(resp.json) == {"errors"}
    assert 1 <= int(resp.headers["Retry-After"]) <= 61
    assert resp.headers["X-Content-Type-Options"] == "nosniff"


def test_limit_is_per_token_and_shared_by_write_routes(tiny_app, db, make_user, make_token):
    _, district, user_id = prepare(db, make_user, make_token, "district")
    other = make_token("district")
    client = tiny_app.test_client()
    assert (
        client.post("/api/schools", json={"name": "A"}, headers=auth(district)).status_code == 201
    )
    assert (
        client.patch(
            f"/api/users/{user_id}", json={"name": "B"}, headers=auth(district)
        ).status_code
        == 200
    )
    assert (
        client.post("/api/schools", json={"name": "C"}, headers=auth(district)).status_code == 429
    )
    # Reads are not limited, and another token has its own bucket.
    for _ in range(5):
        assert client.get("/api/schools", headers=auth(district)).status_code == 200
    assert client.post("/api/schools", json={"name": "D"}, headers=auth(other)).status_code == 201


def test_limit_is_configurable_and_can_be_off(make_app, db, make_user, make_token):
    payload, token, _ = prepare(db, make_user, make_token)
    client = make_app(RATELIMIT_WRITE="").test_client()
    codes = {
        client.post("/api/attendances", json=payload, headers=auth(token)).status_code
        for _ in range(5)
    }
    assert codes == {201}


def test_redis_storage_when_redis_url_is_set(make_app, db, make_user, make_token):
    url = os.environ.get("REDIS_URL")
    if not url:
        if IN_CI:
            pytest.fail("CI=true but REDIS_URL is not set")
        pytest.skip("REDIS_URL is not set")
    redis_app = make_app(
        REDIS_URL=url, RATELIMIT_WRITE="1/minute", RATELIMIT_KEY_PREFIX=f"t-{uuid.uuid4().hex}"
    )
    limiter = redis_app.extensions["attendance_limiter"]
    assert type(limiter.storage).__name__.startswith("Redis")
    payload, token, _ = prepare(db, make_user, make_token)
    client = redis_app.test_client()
    assert client.post("/api/attendances", json=payload, headers=auth(token)).status_code == 201
    resp = client.post("/api/attendances", json=payload, headers=auth(token))
    assert resp.status_code == 429
    assert int(resp.headers["Retry-After"]) >= 1


def test_pages_over_a_limit_get_a_clean_html_429(tiny_app):
    limiter = tiny_app.extensions["attendance_limiter"]

    @tiny_app.post("/test-login")
    @limiter.limit("1/minute")
    def login():
        return "ok"

    client = tiny_app.test_client()
    assert client.post("/test-login").status_code == 200
    resp = client.post("/test-login")
    assert resp.status_code == 429
    assert resp.mimetype == "text/html"
    assert "429" in resp.get_data(as_text=True)
    assert int(resp.headers["Retry-After"]) >= 1


def test_rate_key_names_the_caller(app):
    from flask import g

    from attendance.security.limits import rate_key
    from attendance.security.principals import Principal

    with app.test_request_context(environ_base={"REMOTE_ADDR": "192.0.2.7"}):
        assert rate_key() == "addr:192.0.2.7"
        g.principal = Principal(role="device", school_id=1, token_id=5)
        assert rate_key() == "token:5"
        g.principal = Principal(role="school", school_id=1, admin_id=9)
        assert rate_key() == "admin:9"
