"""Liveness and readiness: /healthz, /readyz and `flask worker-health`.

Every check has a short timeout, so a database or Redis that is down (or a host that
does not answer) makes the answer 503 within seconds, not a hung probe. Answers name
what failed, never a URL, a host or a password; the details go to the log.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Flask, Response, jsonify
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.pool import NullPool

from .. import clock

log = logging.getLogger(__name__)
bp = Blueprint("health", __name__)


@dataclass(frozen=True)
class Check:
    """One check's outcome: ok or not, and a short reason fit for an unauthenticated answer."""

    ok: bool
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"status": "ok" if self.ok else "fail", "reason": self.reason}


def _failed(what: str, error: BaseException) -> Check:
    # The exception text may name hosts and ports; it goes to the log, not the answer.
    log.warning("readiness: %s: %s: %s", what, type(error).__name__, error)
    return Check(False, f"{what} ({type(error).__name__})")


# -- connections with short timeouts -----------------------------------------------------


def probe_engine(app: Flask) -> Engine:
    """An engine for checks: no pool (each check really connects) and short timeouts."""
    engine: Engine | None = app.extensions.get("attendance.ops.probe_engine")
    if engine is None:
        from ..extensions import db

        with app.app_context():
            url = db.engine.url
        timeout = float(app.config["HEALTH_TIMEOUT"])
        if url.get_backend_name() == "postgresql":
            # libpq counts connect_timeout in whole seconds, at least 2.
            args: dict[str, Any] = {
                "connect_timeout": max(2, round(timeout)),
                "options": f"-c statement_timeout={int(timeout * 1000)}",
            }
        else:
            args = {"timeout": timeout}
        engine = create_engine(url, poolclass=NullPool, connect_args=args)
        app.extensions["attendance.ops.probe_engine"] = engine
    return engine


def probe_redis(app: Flask) -> Any:
    """A Redis client for checks, with connect and read timeouts."""
    client = app.extensions.get("attendance.ops.probe_redis")
    if client is None:
        from redis import Redis

        timeout = float(app.config["HEALTH_TIMEOUT"])
        client = Redis.from_url(
            app.config["REDIS_URL"], socket_connect_timeout=timeout, socket_timeout=timeout
        )
        app.extensions["attendance.ops.probe_redis"] = client
    return client


# -- the checks --------------------------------------------------------------------------


def _scripts(app: Flask) -> Any:
    """The migration scripts (read once: they do not change while the process runs)."""
    script = app.extensions.get("attendance.ops.scripts")
    if script is None:
        from alembic.config import Config
        from alembic.script import ScriptDirectory

        directory = app.extensions["migrate"].directory
        if not os.path.isabs(directory) and not os.path.isdir(directory):
            # Not started from the project folder: the scripts sit beside the package.
            directory = os.path.join(os.path.dirname(app.root_path), directory)
        config = Config()
        config.set_main_option("script_location", directory)
        script = ScriptDirectory.from_config(config)
        app.extensions["attendance.ops.scripts"] = script
    return script


def migration_heads(app: Flask) -> set[str]:
    """The head revisions of the migration scripts."""
    heads: set[str] | None = app.extensions.get("attendance.ops.heads")
    if heads is None:
        heads = set(_scripts(app).get_heads())
        app.extensions["attendance.ops.heads"] = heads
    return heads


def _known(app: Flask, revision: str) -> bool:
    try:
        return _scripts(app).get_revision(revision) is not None
    except Exception:
        return False


def check_database(app: Flask) -> tuple[Check, Check]:
    """The database answers SELECT 1, and its schema is at the scripts' head (or newer).

    Newer: during a rolling deploy the new release migrates first, and the old release's
    processes, still serving, must stay ready (migrations are expand-then-contract).
    """
    from alembic.migration import MigrationContext

    try:
        with probe_engine(app).connect() as conn:
            conn.execute(text("SELECT 1"))
            current = set(MigrationContext.configure(conn).get_current_heads())
    except Exception as error:
        failed = _failed("unreachable", error)
        return failed, Check(False, "unknown: the database is unreachable")
    reachable = Check(True, "reachable")
    try:
        heads = migration_heads(app)
    except Exception as error:
        return reachable, _failed("migration scripts not found", error)
    if current == heads:
        return reachable, Check(True, f"at head {', '.join(sorted(heads))}")
    newer = sorted(rev for rev in current if not _known(app, rev))
    if newer:
        return reachable, Check(True, f"ahead of this release: database at {', '.join(newer)}")
    have = ", ".join(sorted(current)) or "none"
    return reachable, Check(
        False, f"not at head: database at {have}, code expects {', '.join(sorted(heads))}"
    )


@dataclass(frozen=True)
class WorkerInfo:
    name: str
    hostname: str | None
    state: str
    age: float | None  # seconds since the last heartbeat


def list_workers(connection: Any) -> list[WorkerInfo]:
    """The RQ workers registered in Redis, with the age of their last heartbeat."""
    from rq import Worker

    now = clock.now()
    found = []
    for worker in Worker.all(connection=connection):
        beat = worker.last_heartbeat
        age = None
        if beat is not None:
            age = (now - beat.replace(tzinfo=dt.UTC)).total_seconds()
        state = worker.get_state()
        found.append(WorkerInfo(worker.name, worker.hostname, getattr(state, "value", state), age))
    return found


def healthy(worker: WorkerInfo, max_age: float) -> bool:
    """Seen recently: a heartbeat within `max_age`, or busy with a job.

    An idle RQ worker beats every WORKER_TTL - 15 s while it waits; a worker running a
    job does not beat until the job ends, but stays registered (its key outlives the job's
    timeout) and is dropped by Redis if it dies.
    """
    if worker.state == "busy":
        return True
    return worker.age is not None and worker.age <= max_age


def check_redis(app: Flask) -> tuple[Check, Check]:
    """Redis answers PING, and at least one worker was seen recently."""
    try:
        connection = probe_redis(app)
        connection.ping()
        workers = list_workers(connection)
    except Exception as error:
        failed = _failed("unreachable", error)
        return failed, Check(False, "unknown: Redis is unreachable")
    max_age = float(app.config["WORKER_HEARTBEAT_MAX_AGE"])
    alive = [w for w in workers if healthy(w, max_age)]
    if alive:
        return Check(True, "reachable"), Check(True, f"{len(alive)} seen recently")
    return Check(True, "reachable"), Check(
        False, f"no worker seen in the last {max_age:g} s ({len(workers)} registered)"
    )


def readiness(app: Flask) -> tuple[bool, dict[str, Check]]:
    """Every check, and whether the ones that count all passed."""
    checks: dict[str, Check] = {}
    checks["database"], checks["migrations"] = check_database(app)
    counted = ["database", "migrations"]
    if app.config.get("REDIS_URL"):
        checks["redis"], checks["workers"] = check_redis(app)
        counted.append("redis")
        if app.config["READY_REQUIRE_WORKER"]:
            counted.append("workers")
    return all(checks[name].ok for name in counted), checks


# -- the endpoints -----------------------------------------------------------------------


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/healthz")
def healthz() -> Response:
    """The process is alive and serving (no dependency is checked)."""
    return _no_store(jsonify({"status": "ok"}))


@bp.route("/readyz")
def readyz() -> Response:
    """Ready to serve: 200 when every dependency is fine, else 503 with what is not."""
    from ..extensions import current_app_object

    app = current_app_object()
    ready, checks = readiness(app)
    body = {
        "status": "ok" if ready else "unavailable",
        "checks": {name: check.to_dict() for name, check in checks.items()},
    }
    response = jsonify(body)
    response.status_code = 200 if ready else 503
    return _no_store(response)


def worker_health(app: Flask, this_host: bool, max_age: float | None) -> tuple[bool, dict]:
    """For `flask worker-health`: whether a healthy worker exists, and a summary."""
    if not app.config.get("REDIS_URL"):
        return False, {"status": "fail", "reason": "REDIS_URL is not set: there are no workers"}
    limit = float(max_age if max_age is not None else app.config["WORKER_HEARTBEAT_MAX_AGE"])
    try:
        connection = probe_redis(app)
        connection.ping()
        workers = list_workers(connection)
    except Exception as error:
        return False, {"status": "fail", "reason": _failed("Redis unreachable", error).reason}
    if this_host:
        host = socket.gethostname()
        workers = [w for w in workers if w.hostname == host]
    alive = [w for w in workers if healthy(w, limit)]
    summary = {
        "status": "ok" if alive else "fail",
        "healthy": len(alive),
        "registered": len(workers),
        "workers": [
            {
                "name": w.name,
                "state": w.state,
                "heartbeat_age_s": None if w.age is None else round(w.age, 1),
            }
            for w in workers
        ],
    }
    if not alive:
        summary["reason"] = f"no worker with a heartbeat in the last {limit:g} s"
    return bool(alive), summary


def init_app(app: Flask) -> None:
    """Register /healthz and /readyz."""
    app.register_blueprint(bp)
