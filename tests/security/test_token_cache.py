"""The token cache (security/gate.py): used only while Redis says nothing changed.

A revoked token is refused at the very next request of every web process; the write
limit is counted across processes in the round trip that checks the cache's version.
"""

from __future__ import annotations

import http.client
import uuid
from urllib.parse import urlsplit

import pytest
from sqlalchemy import event, select

from attendance.security import tokens
from attendance.security.models import ApiToken
from tests.conftest import event_body
from tests.test_zero_loss import gunicorn

pytestmark = pytest.mark.slow


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def token_queries(app):
    """A list that fills with each SQL statement reading api_tokens, made by `app`."""
    seen: list[str] = []
    with app.app_context():
        from attendance.extensions import db

        engine = db.engine

    def before(conn, cursor, statement, parameters, context, executemany):
        if "FROM api_tokens" in statement:
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    return seen


@pytest.fixture
def cached_app(make_app, redis_url):
    return make_app(REDIS_URL=redis_url, RATELIMIT_KEY_PREFIX=f"t-{uuid.uuid4().hex}")


def test_a_known_token_is_not_looked_up_again(cached_app, db, make_user, make_token):
    user = make_user()
    token = make_token("device", user.school_id)
    client = cached_app.test_client()
    seen = token_queries(cached_app)
    for _ in range(3):
        resp = client.post("/api/attendances", json=event_body(user), headers=auth(token))
        assert resp.status_code == 201
    assert len(seen) == 1


def test_revoking_refuses_the_next_request(cached_app, db, make_user, make_token):
    user = make_user()
    token = make_token("device", user.school_id)
    client = cached_app.test_client()
    assert client.get(f"/api/users/{user.id}", headers=auth(token)).status_code in (200, 403)
    assert (
        client.post("/api/attendances", json=event_body(user), headers=auth(token)).status_code
        == 201
    )
    with cached_app.app_context():
        from attendance.extensions import db as app_db

        row = app_db.session.scalar(select(ApiToken).order_by(ApiToken.id.desc()))
        tokens.revoke_token(row.id)
        app_db.session.commit()
    resp = client.post("/api/attendances", json=event_body(user), headers=auth(token))
    assert resp.status_code == 401


def test_a_school_deleted_takes_its_cached_tokens(cached_app, db, make_school, make_token):
    school = make_school()
    token = make_token("school", school)
    client = cached_app.test_client()
    assert client.get(f"/api/schools/{school.id}", headers=auth(token)).status_code == 200
    district = make_token("district")
    assert client.delete(f"/api/schools/{school.id}", headers=auth(district)).status_code == 204
    assert client.get(f"/api/schools/{school.id}", headers=auth(token)).status_code == 401


def test_a_revocation_redis_cannot_hear_of_is_not_made(make_app, db, make_user, make_token):
    # Nothing listens on port 1: the web processes could not be told, so the revocation
    # fails rather than leave a revoked token in their caches.
    app = make_app(REDIS_URL="redis://127.0.0.1:1/0")
    user = make_user()
    token = make_token("device", user.school_id)
    with app.app_context():
        from attendance.extensions import db as app_db

        row = app_db.session.scalar(select(ApiToken).order_by(ApiToken.id.desc()))
        with pytest.raises(Exception, match="(?i)connect"):
            tokens.revoke_token(row.id)
            app_db.session.commit()
        app_db.session.rollback()
        assert app_db.session.get(ApiToken, row.id).revoked_at is None
    # Without Redis, requests still work: the token is looked up, writes counted in memory.
    client = app.test_client()
    assert (
        client.post("/api/attendances", json=event_body(user), headers=auth(token)).status_code
        == 201
    )


def test_the_write_limit_is_shared_by_processes(make_app, redis_url, db, make_user, make_token):
    # Two apps stand for two web processes: each has its own cache, Redis is shared.
    settings = {"REDIS_URL": redis_url, "RATELIMIT_WRITE": "3/minute"}
    settings["RATELIMIT_KEY_PREFIX"] = f"t-{uuid.uuid4().hex}"
    one, two = make_app(**settings).test_client(), make_app(**settings).test_client()
    user = make_user()
    token = make_token("device", user.school_id)
    body = event_body(user)
    codes = [
        c.post("/api/attendances", json=body, headers=auth(token)).status_code
        for c in (one, two, one)
    ]
    assert codes == [201, 201, 201]
    resp = two.post("/api/attendances", json=body, headers=auth(token))
    assert resp.status_code == 429
    assert "rate limit exceeded (3 per 1 minute)" in resp.json["errors"]["detail"]
    assert 1 <= int(resp.headers["Retry-After"]) <= 60


def test_revoked_at_the_next_request_of_every_gunicorn_worker(
    app_config, make_app, redis_url, db, make_user, make_token
):
    user = make_user()
    token = make_token("device", user.school_id)
    body = event_body(user)
    db.session.commit()
    env = {"REDIS_URL": redis_url}
    with gunicorn(app_config["SQLALCHEMY_DATABASE_URI"], env, "tests.security.pid_app:app") as url:
        target = urlsplit(url)
        # Keep-alive connections stay with the worker that accepted them: open them until
        # both workers hold one, and let each worker cache the token.
        by_worker: dict[str, http.client.HTTPConnection] = {}
        for _ in range(200):
            connection = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
            status, pid = post(connection, body, token)
            assert status == 201
            if pid in by_worker:
                connection.close()
            else:
                by_worker[pid] = connection
            if len(by_worker) == 2:
                break
        assert len(by_worker) == 2, "one worker took every connection"
        for connection in by_worker.values():
            assert post(connection, body, token)[0] == 201  # from the cache now

        # Revoked as `flask token revoke` does it, in a process of its own with REDIS_URL.
        with make_app(REDIS_URL=redis_url).app_context():
            from attendance.extensions import db as app_db

            row = app_db.session.scalar(select(ApiToken).order_by(ApiToken.id.desc()))
            tokens.revoke_token(row.id)
            app_db.session.commit()

        for pid, connection in by_worker.items():
            assert post(connection, body, token) == (401, pid)
            connection.close()


def post(connection: http.client.HTTPConnection, body: dict, token: str) -> tuple[int, str]:
    """POST a check-in on a kept-alive connection: the status and the answering process."""
    import json

    headers = {"Content-Type": "application/json", **auth(token)}
    connection.request("POST", "/api/attendances", body=json.dumps(body), headers=headers)
    response = connection.getresponse()
    response.read()
    return response.status, response.headers["X-Test-Pid"]
