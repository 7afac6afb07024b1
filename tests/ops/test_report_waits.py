"""Requests that wait for a report never hold the threads gate check-ins need.

The real thing: gunicorn with the project's gunicorn.conf.py (2 processes x 4 threads) on
PostgreSQL and Redis, and no worker, so no report ever finishes while clients wait for it.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.conftest import event_body

from .test_processes import free_port, serving, wait_for

WAITERS = 24  # three times the server's threads
WAIT_MAX = 4  # REPORT_WAIT_MAX for this server: the test stays short


@pytest.fixture
def queued(db, make_app, redis_url, make_school, make_token):
    """An app on Redis with no worker (its reports stay queued), REPORT_WAIT_MAX 0.5 s, a
    client with a school token, and the aggregate URL of a one-week report."""
    school = make_school()
    token = make_token("school", school.id)
    app = make_app(REDIS_URL=redis_url, JOBS_SYNCHRONOUS=False, REPORT_WAIT_MAX=0.5)
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    url = f"/api/attendances/aggregate/school/{school.id}?from=2026-11-02&to=2026-11-08"
    return app, client, url


def test_a_longer_wait_is_cut_to_the_maximum(queued):
    _app, client, url = queued
    started = time.monotonic()
    resp = client.get(url + "&wait=60")
    assert resp.status_code == 202 and resp.json["data"]["status"] == "queued"
    polled = client.get(resp.headers["Location"] + "?wait=60")
    assert polled.status_code == 200 and polled.json["data"]["status"] == "queued"
    # REPORT_WAIT_MAX is 0.5 s: two cut waits, not two minutes (a wide margin for slow CI).
    assert time.monotonic() - started < 15


def test_the_report_resource_waits_for_the_end(queued):
    from attendance.extensions import db as _db
    from attendance.jobs.queue import dispatcher
    from attendance.services.reports import requesting as service

    app, client, url = queued
    app.config["REPORT_WAIT_MAX"] = 30.0
    report_id = client.get(url + "&wait=0").json["data"]["report_id"]

    def fail_it_soon() -> None:
        time.sleep(0.3)  # the request below is waiting by then
        with app.app_context():
            service.abandon(report_id, "stopped by the test")
            _db.session.commit()
            dispatcher().announce([report_id])
            _db.session.remove()

    ender = threading.Thread(target=fail_it_soon)
    ender.start()
    try:
        doc = client.get(f"/api/reports/{report_id}?wait=20").json["data"]
    finally:
        ender.join()
    assert (doc["status"], doc["error"]) == ("failed", "stopped by the test")
    assert client.get(f"/api/reports/{report_id}?wait=61").status_code == 422


def p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[math.ceil(0.99 * len(ordered)) - 1]


@pytest.mark.slow
def test_waiting_report_requests_leave_check_ins_fast(
    db, postgres, redis_url, spawn, tmp_path, make_school, make_user, make_token
):
    school = make_school()
    school_id = school.id
    users = [make_user(school=school) for _ in range(20)]
    bodies = [event_body(u) for u in users]
    device, admin = make_token("device", school_id), make_token("school", school_id)
    db.session.commit()
    port = free_port()
    env = {
        "DATABASE_URL": postgres,
        "REDIS_URL": redis_url,
        "PORT": str(port),
        "HOST": "127.0.0.1",
        "WEB_CONCURRENCY": "2",
        "WEB_THREADS": "4",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
        "RATELIMIT_WRITE": "",  # many check-ins from one token: not what is under test
        "LOG_LEVEL": "WARNING",
    }
    web, log = spawn(
        ["-c", "gunicorn.conf.py", "wsgi:app"], env, module="gunicorn", REPORT_WAIT_MAX=WAIT_MAX
    )
    base = f"http://127.0.0.1:{port}"
    wait_for("gunicorn", lambda: serving(base))

    # Warm every worker (its first request opens connections and fills caches): what is
    # measured below is check-ins beside waiting report requests, not a worker's start.
    def warm(n: int) -> None:
        with httpx.Client(headers={"Authorization": f"Bearer {device}"}, timeout=30) as client:
            for i in range(5):
                client.post(f"{base}/api/attendances", json=bodies[(n * 5 + i) % len(bodies)])

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(warm, range(8)))

    def ask_for_report(i: int) -> int:
        # 24 different reports (different ranges), each asking to wait a whole minute.
        start = dt.date(2026, 9, 1) + dt.timedelta(days=i)
        url = f"{base}/api/attendances/aggregate/school/{school_id}"
        query = {"from": start.isoformat(), "to": "2026-11-30", "wait": "60"}
        headers = {"Authorization": f"Bearer {admin}"}
        # The client gives up well before the minute: only the clamp brings it back in time.
        return httpx.get(url, params=query, headers=headers, timeout=WAIT_MAX + 15).status_code

    stop = threading.Event()
    latencies: list[float] = []
    failures: list[str] = []

    def check_in(n: int) -> None:
        with httpx.Client(headers={"Authorization": f"Bearer {device}"}, timeout=10) as client:
            i = n
            while not stop.is_set():
                started = time.monotonic()
                try:
                    resp = client.post(f"{base}/api/attendances", json=bodies[i % len(bodies)])
                except httpx.TransportError as error:
                    failures.append(repr(error))
                    continue
                latencies.append(time.monotonic() - started)
                if resp.status_code != 201:
                    failures.append(f"{resp.status_code} {resp.text[:200]}")
                i += 2

    with ThreadPoolExecutor(WAITERS + 2) as pool:
        reports = [pool.submit(ask_for_report, i) for i in range(WAITERS)]
        time.sleep(0.5)  # the report requests are in (or queued in front of the threads)
        gates = [pool.submit(check_in, n) for n in range(2)]
        time.sleep(WAIT_MAX - 1.5)  # check in while the waiters are still waiting
        stop.set()
        for gate in gates:
            gate.result()
        codes = [r.result() for r in reports]

    assert not failures, failures[:5]
    assert len(latencies) >= 20, latencies
    assert p99(latencies) < 0.25, sorted(latencies)[-10:]
    # A request beyond the cap is answered at once, as without a wait; none ran long.
    assert codes == [202] * WAITERS, codes
    os.kill(web.pid, signal.SIGTERM)
    assert web.wait(timeout=30) == 0, log.read_text()[-2000:]
