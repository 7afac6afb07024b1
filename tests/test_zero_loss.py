"""Zero loss under load: gunicorn on the test database, tools/loadtest.py for a few seconds,
then every 201 answer is a row and no request got a 5xx or lost its connection."""

from __future__ import annotations

import contextlib
import http.client
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from sqlalchemy import func, select

from attendance.models import Attendance

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def load_tester() -> ModuleType:
    """tools/loadtest.py (a script, not a package module)."""
    if "loadtest" not in sys.modules:
        spec = importlib.util.spec_from_file_location("loadtest", ROOT / "tools" / "loadtest.py")
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules["loadtest"] = module  # dataclasses look their module up by name
        spec.loader.exec_module(module)
    return sys.modules["loadtest"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def gunicorn(
    database_url: str,
    env: dict[str, str] | None = None,
    app_spec: str = "attendance:create_app()",
    workers: int = 2,
) -> Iterator[str]:
    """The app under gunicorn (2 workers x 4 threads) on a loopback port, once a worker
    answers (on a busy machine the workers boot well after the port opens)."""
    port = free_port()
    environ = {**os.environ, "DATABASE_URL": database_url, "PYTHONPATH": str(ROOT)}
    environ["RATELIMIT_WRITE"] = "1000000/minute"  # counted, never reached
    environ.pop("REDIS_URL", None)  # recording needs no queue
    environ.update(env or {})
    command = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}"]
    command += ["--workers", str(workers), "--threads", "4", "--worker-class", "gthread"]
    command += ["--log-level", "warning", app_spec]
    process = subprocess.Popen(command, cwd=ROOT, env=environ)
    try:
        deadline = time.monotonic() + 60
        while not answers(port):
            assert process.poll() is None, "gunicorn exited"
            assert time.monotonic() < deadline, "gunicorn did not start"
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.send_signal(signal.SIGTERM)  # graceful: requests in flight are finished
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def answers(port: int) -> bool:
    """True once the server answers /healthz."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", "/healthz")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


@pytest.mark.parametrize("counted_in", ["memory", "redis"])
def test_every_201_is_a_row_and_nothing_failed(
    request, counted_in, app_config, db, make_school, make_user, make_token
):
    # With Redis: the token cache and the write counts of security/gate.py in play.
    env = {"REDIS_URL": request.getfixturevalue("redis_url")} if counted_in == "redis" else {}
    school = make_school()
    school_id = school.id
    users = [make_user(school=school).id for _ in range(40)]
    token = make_token("device", school_id)  # a gate device of that school
    # End the test's transaction and touch no row until the run is over: on SQLite an
    # open transaction would hold the write lock the server needs.
    db.session.commit()
    loadtest = load_tester()
    with gunicorn(app_config["SQLALCHEMY_DATABASE_URI"], env) as url:
        summary = loadtest.run(
            loadtest.LoadConfig(
                url=url,
                token=token,
                school_id=school_id,
                user_ids=users,
                concurrency=8,
                duration=4.0,
            )
        )
    db.session.expire_all()
    rows = db.session.scalar(
        select(func.count())
        .select_from(Attendance)
        .where(Attendance.idempotency_key.like("loadtest-%"))
    )
    assert summary.errors == {"connection": 0, "timeout": 0, "http_5xx": 0}, summary.to_dict()
    assert set(summary.status_counts) == {"201"}, summary.status_counts
    assert summary.requests >= 50, summary.to_dict()
    assert rows == summary.status_counts["201"] == summary.requests
