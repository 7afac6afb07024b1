"""Real processes: a worker's warm shutdown mid-chunk, `flask serve --workers`, `--count`."""

from __future__ import annotations

import datetime as dt
import os
import signal
import socket
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from attendance.extensions import db as _db
from attendance.models import Report, ReportChunk, School
from attendance.ops import context

from ..conftest import submit_report
from ..faults import faults_env
from .conftest import json_lines

pytestmark = pytest.mark.slow
DAY = dt.date(2026, 11, 4)


def wait_for(what: str, test: Callable[[], Any], seconds: float = 20) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = test()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def workers(redis_url: str) -> dict[str, str | None]:
    from redis import Redis
    from rq import Worker

    connection = Redis.from_url(redis_url)
    return {w.name: w.get_current_job_id() for w in Worker.all(connection=connection)}


def with_events(make_user, make_event, days: list[dt.date]) -> int:
    """A user with a check-in on each of days (a date without events gets no chunk job);
    returns the school's id."""
    user = make_user()
    for day in days:
        make_event(user=user, timestamp=dt.datetime.combine(day, dt.time(8), dt.UTC))
    return user.school_id


def test_sigterm_lets_the_running_chunk_finish(
    db, make_app, make_user, make_event, postgres, redis_url, spawn
):
    school_id = with_events(make_user, make_event, [DAY])
    db.session.rollback()
    env = {"DATABASE_URL": postgres, "REDIS_URL": redis_url}
    args = ["worker", "--name", "graceful-0", "--reaper-interval", "1"]
    # Each chunk sleeps 3 s before computing: the SIGTERM lands in the middle of one.
    faulty = {**env, **faults_env(chunk_sleep=3)}
    worker, log = spawn(args, faulty, "tests.faults", LOG_FORMAT="json")
    app = make_app(REDIS_URL=redis_url, JOBS_SYNCHRONOUS=False)
    token = context.request_id.set("trace-rq-1")  # as a web request would have it
    try:
        with app.app_context():
            report_id = submit_report(_db.session.get_one(School, school_id), DAY, DAY, "day").id
            _db.session.remove()
    finally:
        context.request_id.reset(token)
    chunk_job = wait_for(
        "the worker to start the chunk",
        lambda: (workers(redis_url).get("graceful-0") or "").startswith(f"report-{report_id}-day-"),
    )
    assert chunk_job
    time.sleep(0.5)  # inside the chunk's sleep, its lease taken
    signalled = time.monotonic()
    os.kill(worker.pid, signal.SIGTERM)
    assert worker.wait(timeout=20) == 0
    assert time.monotonic() - signalled > 1.5  # it waited for the chunk
    db.session.rollback()
    chunk = db.session.get(ReportChunk, (report_id, DAY))
    assert (chunk.status, chunk.source, chunk.attempts) == ("done", "computed", 0)
    assert "graceful-0" not in workers(redis_url)  # unregistered: a clean exit
    lines = json_lines(log.read_text())
    done = [x for x in lines if x.get("event") == "job" and x["function"] == "compute_day"]
    assert [(x["status"], x["report_id"]) for x in done] == [("ok", report_id)]
    # The request id went from the request to the plan job, and from it to the chunk.
    assert done[0]["request_id"] == "trace-rq-1"
    assert any("warm shut down" in x["message"] for x in lines)
    # The final step was left in the queue, not lost: the next worker finishes the report.
    spawn(["worker", "--name", "graceful-1", "--reaper-interval", "1"], env)

    def finished() -> bool:
        db.session.rollback()
        return db.session.get(Report, report_id).status == "finished"

    wait_for("the report to finish", finished)


def serving(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz").status_code == 200
    except httpx.TransportError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_starts_and_stops_its_workers(db, postgres, redis_url, spawn):
    port = free_port()
    env = {"DATABASE_URL": postgres, "REDIS_URL": redis_url}
    serve, log = spawn(["serve", "--port", str(port), "--workers", "2"], env)
    base = f"http://127.0.0.1:{port}"

    wait_for("the web server", lambda: serving(base))
    wait_for("two workers", lambda: len(workers(redis_url)) == 2)
    ready = httpx.get(f"{base}/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"]["workers"]["reason"] == "2 seen recently"
    os.kill(serve.pid, signal.SIGTERM)
    assert serve.wait(timeout=20) == 0
    assert workers(redis_url) == {}, log.read_text()


def test_worker_count_runs_n_processes_and_serves_their_metrics(
    db, make_app, make_user, make_event, postgres, redis_url, spawn
):
    from prometheus_client.parser import text_string_to_metric_families

    school_id = with_events(make_user, make_event, [DAY, DAY + dt.timedelta(days=1)])
    db.session.rollback()
    port = free_port()
    env = {
        "DATABASE_URL": postgres,
        "REDIS_URL": redis_url,
        "METRICS_TOKEN": "worker-metrics-token",
        "METRICS_ALLOW": "",  # the token only, even from loopback
    }
    args = ["worker", "--count", "2", "--reaper-interval", "1", "--metrics-port", str(port)]
    parent, log = spawn(args, env)
    wait_for("two workers", lambda: len(workers(redis_url)) == 2)
    app = make_app(REDIS_URL=redis_url, JOBS_SYNCHRONOUS=False)
    with app.app_context():
        school = _db.session.get_one(School, school_id)
        report_id = submit_report(school, DAY, DAY + dt.timedelta(days=1), "day").id
        _db.session.remove()

    def finished() -> bool:
        db.session.rollback()
        return db.session.get(Report, report_id).status == "finished"

    wait_for("the report to finish", finished)
    url = f"http://127.0.0.1:{port}/metrics"
    assert httpx.get(url).status_code == 401
    text = httpx.get(url, headers={"Authorization": "Bearer worker-metrics-token"}).text
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    ok_chunks = ("attendance_jobs_total", (("function", "compute_day"), ("status", "ok")))
    assert samples[ok_chunks] == 2, log.read_text()
    assert samples[("attendance_day_cache_misses_total", ())] == 2
    os.kill(parent.pid, signal.SIGTERM)
    assert parent.wait(timeout=20) == 0
    assert workers(redis_url) == {}, log.read_text()


def test_gunicorn_processes_share_their_metrics(db, postgres, spawn, tmp_path):
    port = free_port()
    env = {
        "DATABASE_URL": postgres,
        "PORT": str(port),
        "HOST": "127.0.0.1",
        "WEB_CONCURRENCY": "2",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
    }
    web, log = spawn(["-c", "gunicorn.conf.py", "wsgi:app"], env, module="gunicorn")
    base = f"http://127.0.0.1:{port}"

    wait_for("gunicorn", lambda: serving(base))
    for _ in range(40):  # a new connection each: both processes answer some
        assert httpx.get(f"{base}/api/openapi.json").status_code == 200
    text = httpx.get(f"{base}/metrics").text
    line = next(
        x
        for x in text.splitlines()
        if x.startswith("attendance_http_requests_total{") and 'route="/api/openapi.json"' in x
    )
    assert float(line.rsplit(" ", 1)[1]) == 40
    # Each process counted in its own file; the scrape added them up.
    assert len(list((tmp_path / "metrics").glob("counter_*.db"))) >= 2, log.read_text()
    os.kill(web.pid, signal.SIGTERM)
    assert web.wait(timeout=40) == 0
    # gunicorn's own lines and the app's are JSON, each request logged once.
    lines = json_lines(log.read_text())
    assert any(x["logger"] == "gunicorn.error" and "Booting worker" in x["message"] for x in lines)
    requests = [x for x in lines if x.get("route") == "/api/openapi.json"]
    assert len(requests) == 40


def test_serve_without_redis_is_one_process(db, app_config, spawn):
    port = free_port()
    env = {"DATABASE_URL": app_config["SQLALCHEMY_DATABASE_URI"], "REDIS_URL": ""}
    serve, log = spawn(["serve", "--port", str(port)], env)
    base = f"http://127.0.0.1:{port}"

    wait_for("the web server", lambda: serving(base))
    ready = httpx.get(f"{base}/readyz")
    assert ready.status_code == 200, ready.text
    assert set(ready.json()["checks"]) == {"database", "migrations"}
    os.kill(serve.pid, signal.SIGTERM)
    assert serve.wait(timeout=20) == 0
    assert "worker process" not in log.read_text()
