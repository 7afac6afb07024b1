"""Shared fixtures: the app on the test database, a client, row factories, real processes."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url

from attendance import clock, create_app
from attendance.config import _database_url
from attendance.extensions import db as _db
from attendance.models import Attendance, Enrolment, Report, School, User
from attendance.security.tokens import create_token

IN_CI = os.environ.get("CI") == "true"

# Mid-morning of a school day, far from any midnight (UTC, Ho Chi Minh City's, New York's),
# a month's end or a DST change: Wednesday 25 November 2026, 10:00 UTC. A test whose
# outcome depends on "now", "today" or "yesterday" pins the app's clock here (`frozen_now`),
# so that it passes whenever the suite runs.
SCHOOL_MORNING = dt.datetime(2026, 11, 25, 10, 0, tzinfo=dt.UTC)


class FrozenClock:
    """Stands in for `attendance.clock.now`: `at` is now, until the test moves it."""

    def __init__(self, at: dt.datetime) -> None:
        self.at = at

    def __call__(self) -> dt.datetime:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += dt.timedelta(seconds=seconds)


def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """PostgreSQL when DATABASE_URL names a test database, else a throwaway SQLite file."""
    url = os.environ.get("DATABASE_URL")
    if not url:
        if IN_CI:
            raise RuntimeError("CI=true but DATABASE_URL is not set: refusing to test on SQLite")
        return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite'}"
    url = _database_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" and "test" not in (parsed.database or ""):
        raise RuntimeError(
            f"refusing to wipe {parsed.database!r}: test databases need 'test' in the name"
        )
    return url


def reset_schema(app: Flask, revision: str = "head") -> None:
    """Drop everything and run the migrations from scratch (so they are tested too)."""
    from flask_migrate import upgrade

    with app.app_context():
        engine = _db.engine
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
            else:
                conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
                for table in inspect(conn).get_table_names():
                    conn.exec_driver_sql(f'DROP TABLE IF EXISTS "{table}"')
        upgrade(revision=revision)


def event_body(user: User, **overrides: Any) -> dict[str, Any]:
    """The JSON body of a check-in by `user` at its school; `overrides` change or add fields."""
    return {
        "user_id": user.id,
        "school_id": user.school_id,
        "type": "checkin",
        "temperature": 36.6,
        **overrides,
    }


def submit_report(
    school: School,
    start: dt.date,
    end: dt.date,
    granularity: str,
    now: dt.datetime | None = None,
) -> Report:
    """Ask for a report as the aggregate route does: request it, commit, queue its plan."""
    from flask import current_app

    from attendance.services.reports import requesting, settings_from

    settings = settings_from(current_app.config)
    requested = requesting.request_report(
        school, start, end, granularity, now or requesting.now_for_report(), settings
    )
    _db.session.commit()
    requested.after_commit()
    return requested.report


@pytest.fixture(scope="session")
def app_config(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return {
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": database_url(tmp_path_factory),
        "REDIS_URL": None,
        "JOBS_SYNCHRONOUS": True,
        "SECRET_KEY": "test-secret-key-that-is-long-enough-0123456789",
        "IMAGE_STORAGE_DIR": str(tmp_path_factory.mktemp("images")),
        # Limits are tested on apps of their own; here they must not get in the way.
        "RATELIMIT_WRITE": "1000000/minute",
        "DASHBOARD_LOGIN_LIMIT": "1000000/minute",
        "DASHBOARD_LOGIN_BACKOFF": {"address_failures": 1_000_000, "account_failures": 1_000_000},
        # Webhook tests deliver to receivers on loopback: allowed as an operator would.
        "WEBHOOK_ALLOW_NETWORKS": "127.0.0.0/8",
    }


@pytest.fixture(scope="session")
def app(app_config: dict[str, Any]) -> Iterator[Flask]:
    app = create_app(app_config)
    reset_schema(app)
    yield app
    dispose(app)


def dispose(app: Flask) -> None:
    """Close pooled connections, so nothing is left open when the process ends."""
    with app.app_context():
        for engine in _db.engines.values():
            engine.dispose()
    gate = app.extensions.get("attendance_gate")
    if gate is not None:
        gate.close()  # its Redis connections


def wipe(app: Flask) -> None:
    """Empty every table between tests."""
    with app.app_context():
        _db.session.remove()
        tables = [t.name for t in reversed(_db.metadata.sorted_tables)]
        with _db.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
            else:
                for table in tables:
                    conn.exec_driver_sql(f'DELETE FROM "{table}"')


@pytest.fixture
def db(app: Flask) -> Iterator[Any]:
    with app.app_context():
        yield _db
        _db.session.remove()
    wipe(app)


@contextlib.contextmanager
def clock_pinned(at: dt.datetime = SCHOOL_MORNING) -> Iterator[FrozenClock]:
    """The app's clock pinned at `at` for the block (a module-scoped fixture's `frozen_now`)."""
    with pytest.MonkeyPatch.context() as patch:
        fake = FrozenClock(at)
        patch.setattr(clock, "now", fake)
        yield fake


@pytest.fixture
def frozen_now() -> Iterator[FrozenClock]:
    """The app's clock pinned at SCHOOL_MORNING (`frozen_now.at` is now; `.advance(s)`)."""
    with clock_pinned() as fake:
        yield fake


@pytest.fixture
def make_token(db: Any) -> Callable[..., str]:
    """Mint a token: `make_token("device", school)`; `revoked=True` for a dead one."""

    def make(
        role: str = "district", school: School | int | None = None, *, revoked: bool = False
    ) -> str:
        school_id = school.id if isinstance(school, School) else school
        row, token = create_token(role, school_id, f"test {role}")
        if revoked:
            row.revoked_at = clock.now()
        db.session.commit()
        return token

    return make


@pytest.fixture
def client_as(app: Flask, make_token: Callable[..., str]) -> Callable[..., FlaskClient]:
    """A client sending a bearer token: `client_as("school", school)` or `client_as(token)`."""

    def make(who: str = "district", school: School | int | None = None) -> FlaskClient:
        token = who if who.startswith("att_") else None
        c = app.test_client()
        c.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token or make_token(who, school)}"
        return c

    return make


@pytest.fixture
def client(client_as: Callable[..., FlaskClient]) -> FlaskClient:
    """A client with a district admin token: may do everything."""
    return client_as("district")


@pytest.fixture
def anonymous(app: Flask, db: Any) -> FlaskClient:
    """A client sending no token."""
    return app.test_client()


@pytest.fixture
def runner(app: Flask, db: Any) -> FlaskCliRunner:
    return app.test_cli_runner()


@pytest.fixture
def make_school(db: Any) -> Callable[..., School]:
    def make(**overrides: Any) -> School:
        school = School(**{"name": "Hillside Primary", **overrides})
        db.session.add(school)
        db.session.commit()
        return school

    return make


@pytest.fixture
def make_user(db: Any, make_school: Callable[..., School]) -> Callable[..., User]:
    """A user, enrolled at its school: open at both ends unless `enrolled_from` /
    `enrolled_until` say otherwise (`enrolled=False`: no enrolment at all)."""

    def make(**overrides: Any) -> User:
        if "school_id" not in overrides and "school" not in overrides:
            overrides["school"] = make_school()
        enrolled = overrides.pop("enrolled", True)
        span = overrides.pop("enrolled_from", None), overrides.pop("enrolled_until", None)
        user = User(**{"name": "Ada Lovelace", **overrides})
        db.session.add(user)
        db.session.flush()
        if enrolled:
            db.session.add(
                Enrolment(user_id=user.id, school_id=user.school_id, from_=span[0], until=span[1])
            )
        db.session.commit()
        return user

    return make


@pytest.fixture
def make_event(db: Any, make_user: Callable[..., User]) -> Callable[..., Attendance]:
    def make(**overrides: Any) -> Attendance:
        user = overrides.pop("user", None) or make_user()
        fields = {
            "user_id": user.id,
            "school_id": user.school_id,
            "type": "checkin",
            "timestamp": dt.datetime(2026, 11, 23, 8, tzinfo=dt.UTC),
            "temperature": Decimal("36.6"),
            **overrides,
        }
        event = Attendance(**fields)
        db.session.add(event)
        db.session.commit()
        return event

    return make


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[..., tuple[subprocess.Popen[bytes], Path]]]:
    """Start `flask --app attendance ...` (or `-m module`) processes; stopped afterwards.

    `spawn(args, env, module="flask", log=None, **config)`: `env` is added to this
    process's environment and `config` as ATTENDANCE_<NAME> JSON values. The output goes to
    a file of its own under tmp_path, or is appended to `log`. Each process leads a process
    group of its own, so that teardown stops it with its children: SIGTERM, SIGKILL after 20 s.
    """
    procs: list[subprocess.Popen[bytes]] = []

    def start(
        args: list[str],
        env: dict[str, str],
        module: str = "flask",
        *,
        log: Path | None = None,
        **config: Any,
    ) -> tuple[subprocess.Popen[bytes], Path]:
        out = log or tmp_path / f"proc-{len(procs)}.log"
        environ = {
            **os.environ,
            **env,
            **{f"ATTENDANCE_{k}": json.dumps(v) for k, v in config.items()},
        }
        with open(out, "ab") as sink:
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
