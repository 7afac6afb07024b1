"""The pipeline on the real parts: PostgreSQL, Redis, `rq` worker processes, HTTP."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

from attendance import create_app, presence
from attendance.demo import generate as demo
from attendance.extensions import db as _db
from attendance.models import Attendance, Enrolment, ReportChunk, School, User

from ..conftest import IN_CI
from ..faults import faults_env
from ..unit import oracle

pytestmark = pytest.mark.slow


@pytest.fixture
def redis_url(app_config: dict[str, Any]) -> str:
    url = os.environ.get("REDIS_URL")
    problem = None
    if not url:
        problem = "REDIS_URL is not set"
    elif not app_config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        problem = "DATABASE_URL does not name a PostgreSQL database"
    if problem:
        if IN_CI:
            pytest.fail(f"CI=true: {problem}; the worker tests cannot be skipped")
        pytest.skip(problem)
    from redis import Redis

    Redis.from_url(url).flushdb()
    return url


# The bearer token the requests below send; the live fixture fills it in.
AUTH: dict[str, str] = {}


@pytest.fixture
def live(
    app_config: dict[str, Any],
    redis_url: str,
    db: Any,
    make_token: Callable[..., str],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[str]:
    """The app with REDIS_URL, served over real HTTP on a loopback port."""
    monkeypatch.setitem(AUTH, "Authorization", f"Bearer {make_token('district')}")
    app = create_app({**app_config, "REDIS_URL": redis_url, "JOBS_SYNCHRONOUS": False})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    with app.app_context():
        for engine in _db.engines.values():
            engine.dispose()


@pytest.fixture
def start_workers(
    app_config: dict[str, Any], redis_url: str, spawn: Callable[..., tuple[Any, Path]]
) -> Callable[..., list]:
    """Start `flask --app attendance worker` processes (`spawn` stops them)."""
    env = {"DATABASE_URL": app_config["SQLALCHEMY_DATABASE_URI"], "REDIS_URL": redis_url}
    # Worker output is appended to $WORKER_LOG when set (for debugging), else kept in tmp_path.
    log = Path(os.environ["WORKER_LOG"]) if os.environ.get("WORKER_LOG") else None
    procs: list[subprocess.Popen[bytes]] = []

    def start(
        n: int, faults: dict[str, Any] | None = None, **config: Any
    ) -> list[subprocess.Popen[bytes]]:
        """`faults`: the arguments of tests.faults.chunk_started, for these workers."""
        started = [
            spawn(
                ["worker", "--name", f"test-worker-{len(procs) + i}", "--reaper-interval", "1"],
                {**env, **faults_env(**faults)} if faults else env,
                "tests.faults" if faults else "flask",
                log=log,
                **config,
            )[0]
            for i in range(n)
        ]
        procs.extend(started)
        return started

    return start


def load_month(db: Any, users: int = 40) -> School:
    """A school with a month of the demo generator's believable traffic."""
    plan = demo.school_plans(1, ["Europe/Berlin"], seed=7)[0]
    school = School(name=plan.name, timezone=plan.timezone)
    db.session.add(school)
    db.session.flush()
    people = [User(name=n, school_id=school.id) for n in demo.user_names(users, 7, 0)]
    db.session.add_all(people)
    db.session.flush()
    db.session.add_all(Enrolment(user_id=p.id, school_id=school.id) for p in people)
    events = demo.generate_school_events(
        plan, users, dt.date(2026, 10, 1), dt.date(2026, 10, 31), seed=7
    )
    db.session.add_all(
        Attendance(
            user_id=people[e.user_key].id,
            school_id=school.id,
            type=e.type,
            timestamp=e.timestamp,
            temperature=e.temperature,
            idempotency_key=e.client_event_id,
        )  # fmt: skip
        for e in events
    )
    db.session.commit()
    return school


def expected(db: Any, school_id: int, start: dt.date, end: dt.date, gran: str, now: str) -> dict:
    """The figures by the naive oracle (not presence.py) from the stored rows, as of `now`."""
    school = db.session.get(School, school_id)
    rows = db.session.scalars(select(Attendance).where(Attendance.school_id == school_id))
    events = [presence.Event(e.id, e.user_id, e.type, e.timestamp) for e in rows]
    ids = db.session.scalars(
        select(User.id).where(User.school_id == school_id, User.deleted_at.is_(None))
    ).all()
    want, _, _ = oracle.oracle_school_report(
        events,
        list(ids),
        start,
        end,
        gran,
        school.timezone,
        set(school.school_days),
        {c.date for c in school.closures},
        school.min_daily_hours,
        school.period_ratio,
        dt.datetime.fromisoformat(now.replace("Z", "+00:00")),
        None,
        [],
        None,
        None,
        school.chronic_ratio,
        school.chronic_min_days,
    )
    return want


def poll(base: str, location: str, seconds: float) -> dict:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        doc = httpx.get(base + location, headers=AUTH).json()["data"]
        if doc["status"] in ("finished", "failed"):
            return doc
        time.sleep(0.2)
    raise AssertionError(f"report not done within {seconds}s: {doc}")


def request_month(
    base: str,
    school_id: int,
    granularity: str = "week",
    start: str = "2026-10-01",
    end: str = "2026-10-31",
) -> httpx.Response:
    return httpx.get(
        f"{base}/api/attendances/aggregate/school/{school_id}",
        params={"from": start, "to": end, "granularity": granularity, "wait": 0},
        headers=AUTH,
    )


def test_month_report_with_two_workers(db, live, start_workers):
    school = load_month(db)
    start_workers(2)
    resp = request_month(live, school.id)
    assert resp.status_code == 202
    doc = poll(live, resp.headers["Location"], 60)
    assert doc["status"] == "finished", doc
    figures = {
        k: doc[k]
        for k in ("from", "to", "granularity", "enrolled", "presences", "absences", "chronic")
        + ("buckets",)
    }
    want = expected(
        db, school.id, dt.date(2026, 10, 1), dt.date(2026, 10, 31), "week", doc["generated_at"]
    )
    assert figures == want
    assert doc["presences"] > 0 and doc["enrolled"] == 40
    chunks = db.session.scalars(
        select(ReportChunk).where(ReportChunk.report_id == doc["report_id"])
    )
    sources = {c.day: c.source for c in chunks}
    # Dates with events were computed by the workers; the others needed no job.
    busy = {
        presence.local_date(ts, school.timezone)
        for ts in db.session.scalars(
            select(Attendance.timestamp).where(Attendance.school_id == school.id)
        )
    }
    assert {d for d, source in sources.items() if source == "computed"} == busy
    assert {source for d, source in sources.items() if d not in busy} == {"empty"}
    # A warm repeat is served from the finished report of unchanged inputs.
    again = request_month(live, school.id)
    assert again.status_code == 200 and again.json()["data"]["buckets"] == doc["buckets"]


def test_workers_add_the_months_ahead(db, redis_url, start_workers, tmp_path):
    """Each worker's reaper thread adds the monthly partitions due; two at once, each
    month once and no failed pass."""
    from attendance import clock
    from attendance.services import partitions

    # This month as it is before the workers start: at a month's end they may see the next
    # one (and make it and seven after it); this one the migration made.
    this = partitions.month_of(clock.now())
    start_workers(2, PARTITION_MONTHS_AHEAD=7)
    want = {partitions.name_of(partitions.add_months(this, n)) for n in range(8)}
    deadline = time.monotonic() + 60
    found: set[str] = set()
    while not want <= found and time.monotonic() < deadline:
        time.sleep(0.5)
        with db.engine.connect() as conn:
            found = {p.name for p in partitions.partitions(conn)}
            conn.rollback()
    assert want <= found
    logs = "".join(path.read_text() for path in tmp_path.glob("proc-*.log"))
    assert logs and "ensure_ahead pass failed" not in logs


def test_a_killed_worker_does_not_lose_the_report(db, live, start_workers):
    from redis import Redis
    from rq import Worker

    school = load_month(db, users=10)
    # Slow chunks (2 s each) and a short lease (4 + 1 s) make the window and the bound small.
    config = {"REPORT_CHUNK_TIMEOUT": 4, "REPORT_LEASE_GRACE": 1}
    victim, survivor = start_workers(2, {"chunk_sleep": 2}, **config)
    resp = request_month(live, school.id, "day", "2026-10-05", "2026-10-11")
    report_id = resp.json()["data"]["report_id"]
    connection = Redis.from_url(os.environ["REDIS_URL"])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        busy = {w.name: w.get_current_job_id() for w in Worker.all(connection=connection)}
        held = busy.get("test-worker-0") or ""
        if held.startswith(f"report-{report_id}-day-"):
            break
        time.sleep(0.05)
    else:
        raise AssertionError("the victim never started a chunk")
    killed_at = time.monotonic()
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait()
    try:
        doc = poll(live, resp.headers["Location"], 60)
    except AssertionError:
        db.session.rollback()
        rows = db.session.scalars(select(ReportChunk).where(ReportChunk.report_id == report_id))
        print([(c.day, c.status, c.attempts, c.lease_until, c.error) for c in rows])
        raise
    assert doc["status"] == "finished", doc
    # The lost lease (4 + 1 s), a reaper pass (1 s) and the rest of the week's chunks.
    assert time.monotonic() - killed_at < 60
    want = expected(
        db, school.id, dt.date(2026, 10, 5), dt.date(2026, 10, 11), "day", doc["generated_at"]
    )
    assert doc["buckets"] == want["buckets"]
    # The victim died either before its chunk took its lease (the chunk was still pending:
    # requeued once its RQ job had been "started" for longer than a lease) or after (the
    # lease expired: requeued, counted as an attempt). Either way the day was computed.
    day = dt.date.fromisoformat(held.split("-day-")[1][:10])
    chunk = db.session.get(ReportChunk, (report_id, day))
    assert chunk.status == "done" and chunk.source == "computed"
    assert survivor.poll() is None


def test_a_failing_chunk_fails_the_report(db, live, start_workers):
    school = load_month(db, users=5)
    start_workers(1, {"fail_days": ["2026-10-14"]})
    resp = request_month(live, school.id, granularity="month")
    doc = poll(live, resp.headers["Location"], 60)
    assert doc["status"] == "failed"
    assert (
        doc["error"] == "could not compute 2026-10-14: RuntimeError: injected fault on 2026-10-14"
    )
