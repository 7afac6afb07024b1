"""Fixtures for the operations tests: apps with other settings, Redis, worker processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from attendance import create_app

from ..conftest import IN_CI, dispose

# Nothing listens on port 1: connections are refused at once.
CLOSED_PG = "postgresql+psycopg://attendance:s3cret-pw@127.0.0.1:1/attendance"
CLOSED_REDIS = "redis://:s3cret-pw@127.0.0.1:1/0"


@pytest.fixture
def make_app(app_config: dict[str, Any]) -> Iterator[Callable[..., Flask]]:
    """Apps like the session's, with overrides; their pools are closed afterwards.

    Making an app configures the root logger; the test's changes to it are undone.
    """
    import logging

    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    made: list[Flask] = []

    def make(**overrides: Any) -> Flask:
        app = create_app({**app_config, **overrides})
        made.append(app)
        return app

    yield make
    for app in made:
        dispose(app)
    root.setLevel(level)
    root.handlers[:] = handlers


@pytest.fixture
def redis_url(app_config: dict[str, Any]) -> str:
    """A real Redis (flushed), or a skip (a failure under CI)."""
    url = os.environ.get("REDIS_URL")
    if not url:
        if IN_CI:
            pytest.fail("CI=true: REDIS_URL is not set; the Redis tests cannot be skipped")
        pytest.skip("REDIS_URL is not set")
    from redis import Redis

    Redis.from_url(url).flushdb()
    return url


@pytest.fixture
def postgres(app_config: dict[str, Any]) -> str:
    """The PostgreSQL test database (worker processes cannot share a SQLite file safely)."""
    url = app_config["SQLALCHEMY_DATABASE_URI"]
    if not url.startswith("postgresql"):
        if IN_CI:
            pytest.fail("CI=true: DATABASE_URL does not name a PostgreSQL database")
        pytest.skip("DATABASE_URL does not name a PostgreSQL database")
    return str(url)


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[..., tuple[subprocess.Popen[bytes], Path]]]:
    """Start `flask --app attendance ...` (or `-m module`) processes, output to a file each."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(
        args: list[str], env: dict[str, str], module: str = "flask", **config: Any
    ) -> tuple[subprocess.Popen[bytes], Path]:
        out = tmp_path / f"proc-{len(procs)}.log"
        environ = {
            **os.environ,
            **env,
            **{f"ATTENDANCE_{k}": json.dumps(v) for k, v in config.items()},
        }
        with open(out, "wb") as sink:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    module,
                    *(["--app", "attendance"] if module == "flask" else []),
                    *args,
                ],
                env=environ,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        procs.append(proc)
        return proc, out

    yield start
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def json_lines(text: str) -> list[dict[str, Any]]:
    """The JSON objects among the lines of a log."""
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                found.append(json.loads(line))
            except ValueError:
                continue
    return found
