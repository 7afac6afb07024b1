"""Zero loss under load: gunicorn on the test database, tools/loadtest.py for a few seconds,
then every 201 answer is a row and no request got a 5xx or lost its connection."""

from __future__ import annotations

import contextlib
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
def gunicorn(database_url: str) -> Iterator[str]:
    """The app under gunicorn (2 workers x 4 threads) on a loopback port."""
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "PYTHONPATH": str(ROOT)}
    env["RATELIMIT_WRITE"] = "1000000/minute"  # counted, never reached
    env.pop("REDIS_URL", None)  # recording needs no queue
    command = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}"]
    command += ["--workers", "2", "--threads", "4", "--worker-class", "gthread"]
    command += ["--log-level", "warning", "attendance:create_app()"]
    process = subprocess.Popen(command, cwd=ROOT, env=env)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, "gunicorn exited"
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
                break
            assert time.monotonic() < deadline, "gunicorn did not start"
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.send_signal(signal.SIGTERM)  # graceful: requests in flight are finished
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_every_201_is_a_row_and_nothing_failed(app_config, db, make_school, make_user, make_token):
    school = make_school()
    school_id = school.id
    users = [make_user(school=school).id for _ in range(40)]
    token = make_token("device", school_id)  # a gate device of that school
    # End the test's transaction and touch no row until the run is over: on SQLite an
    # open transaction would hold the write lock the server needs.
    db.session.commit()
    loadtest = load_tester()
    with gunicorn(app_config["SQLALCHEMY_DATABASE_URI"]) as url:
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
