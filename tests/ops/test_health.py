"""/healthz, /readyz and `flask worker-health`: 200 or 503 quickly, never a hang or a secret."""

from __future__ import annotations

import time

from .conftest import CLOSED_PG, CLOSED_REDIS


def test_healthz_needs_no_dependency(make_app):
    app = make_app(SQLALCHEMY_DATABASE_URI=CLOSED_PG, REDIS_URL=CLOSED_REDIS)
    resp = app.test_client().get("/healthz")
    assert resp.status_code == 200
    assert resp.get_json() == {"status": "ok"}
    assert resp.headers["Cache-Control"] == "no-store"


def test_ready_without_redis(client):
    resp = client.get("/readyz")
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "migrations"}
    assert body["checks"]["migrations"]["status"] == "ok"
    assert body["checks"]["migrations"]["reason"].startswith("at head")


def test_unreachable_database_is_503_quickly(make_app):
    app = make_app(SQLALCHEMY_DATABASE_URI=CLOSED_PG)
    started = time.monotonic()
    resp = app.test_client().get("/readyz")
    assert time.monotonic() - started < 5
    assert resp.status_code == 503
    body = resp.get_json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == {
        "status": "fail",
        "reason": "unreachable (OperationalError)",
    }
    assert body["checks"]["migrations"]["status"] == "fail"
    text = resp.get_data(as_text=True)
    assert "s3cret" not in text and "127.0.0.1" not in text


def test_stopped_redis_is_503_quickly(db, make_app):
    app = make_app(REDIS_URL=CLOSED_REDIS)
    started = time.monotonic()
    resp = app.test_client().get("/readyz")
    assert time.monotonic() - started < 5
    assert resp.status_code == 503
    checks = resp.get_json()["checks"]
    assert checks["database"]["status"] == "ok"
    assert checks["redis"] == {"status": "fail", "reason": "unreachable (ConnectionError)"}
    assert checks["workers"]["status"] == "fail"
    assert "s3cret" not in resp.get_data(as_text=True)


def test_schema_behind_the_code_is_not_ready(db, make_app):
    app = make_app()
    app.extensions["attendance.ops.heads"] = {"0099_future"}
    resp = app.test_client().get("/readyz")
    assert resp.status_code == 503
    reason = resp.get_json()["checks"]["migrations"]["reason"]
    assert reason.startswith("not at head") and "0099_future" in reason


def fake_worker(redis_url: str, name: str = "probe-test-worker"):
    """A worker registered in Redis as a live one would be, without running it."""
    from redis import Redis
    from rq import Worker

    worker = Worker(["reports"], connection=Redis.from_url(redis_url), name=name)
    worker.register_birth()
    worker.heartbeat()
    return worker


def test_ready_needs_a_worker_when_redis_is_set(db, make_app, redis_url):
    app = make_app(REDIS_URL=redis_url)
    client = app.test_client()
    resp = client.get("/readyz")
    assert resp.status_code == 503
    checks = resp.get_json()["checks"]
    assert checks["redis"]["status"] == "ok"
    assert checks["workers"] == {
        "status": "fail",
        "reason": "no worker seen in the last 120 s (0 registered)",
    }
    worker = fake_worker(redis_url)
    try:
        resp = client.get("/readyz")
        assert resp.status_code == 200, resp.get_json()
        assert resp.get_json()["checks"]["workers"]["reason"] == "1 seen recently"
    finally:
        worker.register_death()


def test_workers_can_be_informational(db, make_app, redis_url):
    app = make_app(REDIS_URL=redis_url, READY_REQUIRE_WORKER=False)
    resp = app.test_client().get("/readyz")
    assert resp.status_code == 200
    assert resp.get_json()["checks"]["workers"]["status"] == "fail"


def test_a_stale_heartbeat_does_not_count(db, make_app, redis_url):
    app = make_app(REDIS_URL=redis_url, WORKER_HEARTBEAT_MAX_AGE=0.5)
    worker = fake_worker(redis_url)
    try:
        time.sleep(1)
        assert app.test_client().get("/readyz").status_code == 503
    finally:
        worker.register_death()


def test_worker_health_command(db, make_app, redis_url):
    import json

    app = make_app(REDIS_URL=redis_url)
    runner = app.test_cli_runner()
    with app.app_context():  # the command runs in the current app (db's is pushed)
        result = runner.invoke(args=["worker-health"])
    assert result.exit_code == 1
    assert json.loads(result.output)["status"] == "fail"
    worker = fake_worker(redis_url)
    try:
        with app.app_context():
            result = runner.invoke(args=["worker-health"])
            here = runner.invoke(args=["worker-health", "--this-host"])
        assert result.exit_code == 0, result.output
        summary = json.loads(result.output)
        assert summary["healthy"] == 1 and summary["workers"][0]["name"] == "probe-test-worker"
        assert here.exit_code == 0
    finally:
        worker.register_death()


def test_worker_health_without_redis_fails(db, make_app):
    for url in (CLOSED_REDIS, None):
        app = make_app(REDIS_URL=url)
        started = time.monotonic()
        with app.app_context():
            result = app.test_cli_runner().invoke(args=["worker-health"])
        assert time.monotonic() - started < 5
        assert result.exit_code == 1
        assert "s3cret" not in result.output


def test_a_schema_newer_than_the_code_stays_ready(db, make_app):
    """A rolling deploy: the new release migrated; the old one keeps serving."""
    from sqlalchemy import text

    [current] = db.session.execute(text("SELECT version_num FROM alembic_version")).scalars()
    db.session.execute(text("UPDATE alembic_version SET version_num = '0099_newer'"))
    db.session.commit()
    try:
        resp = make_app().test_client().get("/readyz")
        assert resp.status_code == 200
        reason = resp.get_json()["checks"]["migrations"]["reason"]
        assert reason == "ahead of this release: database at 0099_newer"
    finally:
        db.session.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": current})
        db.session.commit()
