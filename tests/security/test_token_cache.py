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


# -- pushed versions: no round trip per request (security/pushed.py) ---------------------------


def listening(app, client, token, body) -> None:
    """Send a write so the app's listener starts, then wait until it is confirmed."""
    import time

    assert client.post("/api/attendances", json=body, headers=auth(token)).status_code == 201
    gate = app.extensions["attendance_gate"]
    deadline = time.monotonic() + 5
    while not gate.listening:
        assert time.monotonic() < deadline, "the listener was never confirmed"
        time.sleep(0.01)


def round_trips(app, monkeypatch) -> list[tuple]:
    """A list that fills with each call of the gate's Redis script (one per round trip)."""
    gate = app.extensions["attendance_gate"]
    calls: list[tuple] = []
    script = gate._script

    def counted(*args, **kwargs):
        calls.append((args, kwargs))
        return script(*args, **kwargs)

    monkeypatch.setattr(gate, "_script", counted)
    return calls


def revoke_latest(app) -> None:
    """Revoke the newest token as `flask token revoke` does, through `app`."""
    with app.app_context():
        from attendance.extensions import db as app_db

        row = app_db.session.scalar(select(ApiToken).order_by(ApiToken.id.desc()))
        tokens.revoke_token(row.id)
        app_db.session.commit()


def test_a_listening_process_asks_redis_nothing_per_request(
    make_app, redis_url, db, make_user, make_token, monkeypatch
):
    app = make_app(REDIS_URL=redis_url, RATELIMIT_KEY_PREFIX=f"t-{uuid.uuid4().hex}")
    user = make_user()
    token = make_token("device", user.school_id)
    client = app.test_client()
    listening(app, client, token, event_body(user))
    calls = round_trips(app, monkeypatch)
    for _ in range(20):
        assert client.get("/api/users", headers=auth(token)).status_code == 200
    assert calls == []  # reads: nothing to count, the version is pushed
    for _ in range(5):
        resp = client.post("/api/attendances", json=event_body(user), headers=auth(token))
        assert resp.status_code == 201
    # The test's limit (1,000,000 a minute) leases 50 writes at a time: one round trip.
    assert len(calls) <= 1


def test_revoked_in_one_process_refused_by_another_at_once(
    make_app, redis_url, db, make_user, make_token
):
    # Two apps stand for two web processes, each with its listener; a third revokes.
    prefix = f"t-{uuid.uuid4().hex}"
    one = make_app(REDIS_URL=redis_url, RATELIMIT_KEY_PREFIX=prefix)
    two = make_app(REDIS_URL=redis_url, RATELIMIT_KEY_PREFIX=prefix)
    user = make_user()
    token = make_token("device", user.school_id)
    body = event_body(user)
    clients = {one: one.test_client(), two: two.test_client()}
    for app, client in clients.items():
        listening(app, client, token, body)
        assert client.post("/api/attendances", json=body, headers=auth(token)).status_code == 201
    revoke_latest(make_app(REDIS_URL=redis_url, RATELIMIT_KEY_PREFIX=prefix))
    # No sleep: the revocation returned only once both had heard of it.
    for client in clients.values():
        resp = client.post("/api/attendances", json=body, headers=auth(token))
        assert resp.status_code == 401


def test_a_process_whose_listener_is_cut_off_asks_redis_again(
    make_app, redis_url, db, make_user, make_token, monkeypatch
):
    import time

    import redis as redis_lib

    from attendance.security import pushed

    monkeypatch.setattr(pushed, "RECONNECT_AFTER", 5.0)  # cut off for a while
    prefix = f"t-{uuid.uuid4().hex}"
    app = make_app(REDIS_URL=redis_url, RATELIMIT_KEY_PREFIX=prefix)
    gate = app.extensions["attendance_gate"]
    user = make_user()
    token = make_token("device", user.school_id)
    body = event_body(user)
    client = app.test_client()
    listening(app, client, token, body)
    # Cut the listener's connections, as a network failure would.
    server = redis_lib.Redis.from_url(redis_url)
    for info in server.client_list():
        if info.get("name") == f"token-listener-{gate._listener.ident}":
            server.client_kill_filter(_id=info["id"])
    server.close()
    deadline = time.monotonic() + 5
    while gate.listening:
        assert time.monotonic() < deadline, "the listener did not notice"
        time.sleep(0.01)
    # Not listening: each request reads the version from Redis (and counts its write).
    calls = round_trips(app, monkeypatch)
    assert client.post("/api/attendances", json=body, headers=auth(token)).status_code == 201
    assert len(calls) == 1
    # A revocation made meanwhile waits for the silent listener's entry to expire, and is
    # seen at the next request.
    started = time.monotonic()
    revoke_latest(make_app(REDIS_URL=redis_url, RATELIMIT_KEY_PREFIX=prefix))
    assert time.monotonic() - started < pushed.ANNOUNCE_TIMEOUT
    assert client.post("/api/attendances", json=body, headers=auth(token)).status_code == 401


def test_a_change_is_not_committed_while_a_listener_has_not_confirmed_it(
    make_app, redis_url, db, make_user, make_token, monkeypatch
):
    import redis as redis_lib

    from attendance.security import pushed

    prefix = f"t-{uuid.uuid4().hex}"
    app = make_app(REDIS_URL=redis_url, RATELIMIT_KEY_PREFIX=prefix)
    user = make_user()
    token = make_token("device", user.school_id)
    # A listener that has entered itself in the register for a long while but never
    # acknowledges: a process that may be trusting an old version.
    server = redis_lib.Redis.from_url(redis_url)
    server.zadd(f"{prefix}/token-listeners", {"stuck": 10**15})
    monkeypatch.setattr(pushed, "ANNOUNCE_TIMEOUT", 0.3)
    with app.app_context():
        from attendance.extensions import db as app_db

        row = app_db.session.scalar(select(ApiToken).order_by(ApiToken.id.desc()))
        with pytest.raises(RuntimeError, match="did not confirm"):
            tokens.revoke_token(row.id)
            app_db.session.commit()
        app_db.session.rollback()
        assert app_db.session.get(ApiToken, row.id).revoked_at is None
    server.delete(f"{prefix}/token-listeners")
    server.close()
    client = app.test_client()
    resp = client.post("/api/attendances", json=event_body(user), headers=auth(token))
    assert resp.status_code == 201


def test_an_announcement_waits_out_a_listener_that_dropped_out(redis_url):
    import time

    import redis as redis_lib

    from attendance.security import pushed

    prefix = f"t-{uuid.uuid4().hex}"
    server = redis_lib.Redis.from_url(redis_url)
    now_ms = int(time.time() * 1000)
    # Entered until 300 ms from now, and gone silent: it trusts nothing after that.
    server.zadd(f"{prefix}/token-listeners", {"gone": now_ms + 300})
    started = time.monotonic()
    pushed.announce(server, prefix, "changing")
    waited = time.monotonic() - started
    assert 0.15 <= waited < 2.0
    server.close()


def test_a_forked_child_does_not_inherit_the_trust(make_app, redis_url, db, make_user, make_token):
    app = make_app(REDIS_URL=redis_url, RATELIMIT_KEY_PREFIX=f"t-{uuid.uuid4().hex}")
    user = make_user()
    token = make_token("device", user.school_id)
    listening(app, app.test_client(), token, event_body(user))
    gate = app.extensions["attendance_gate"]
    gate._listener.forked()  # what os.register_at_fork runs in a child
    assert not gate.listening


def test_leased_writes_never_pass_the_limit(make_app, redis_url, db, make_user, make_token):
    from limits import parse

    from attendance.security.gate import lease_size

    # 400 a minute: each process counts 4 writes per round trip.
    assert lease_size(parse("400/minute")) == 4
    prefix = f"t-{uuid.uuid4().hex}"
    settings = {"REDIS_URL": redis_url, "RATELIMIT_WRITE": "400/minute"}
    one = make_app(**settings, RATELIMIT_KEY_PREFIX=prefix)
    two = make_app(**settings, RATELIMIT_KEY_PREFIX=prefix)
    user = make_user()
    token = make_token("device", user.school_id)
    body = event_body(user)
    first, second = one.test_client(), two.test_client()
    listening(one, first, token, body)
    listening(two, second, token, body)
    accepted = 2

    def post(client) -> int:
        return client.post("/api/attendances", json=body, headers=auth(token)).status_code

    # One process takes a lease and uses one write of it; the other writes until refused.
    assert post(first) == 201
    accepted += 1
    while (status := post(second)) == 201:
        accepted += 1
        assert accepted <= 400
    assert status == 429
    # Refused early by at most (processes - 1) x (lease - 1) writes: those the first holds.
    assert accepted >= 400 - 3
    while (status := post(first)) == 201:
        accepted += 1
    assert status == 429
    assert 397 <= accepted <= 400
