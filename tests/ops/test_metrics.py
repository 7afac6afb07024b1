"""/metrics: who may read it, what it holds, and counts shared between processes."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from attendance.ops import metrics

from .. import faults
from .test_logs import ids

OUTSIDER = {"REMOTE_ADDR": "203.0.113.9"}


def scrape(client, **kwargs) -> dict[str, dict[tuple, float]]:
    from flask import has_app_context

    from attendance.extensions import db

    if has_app_context():
        db.session.rollback()  # requests share the test's session; SQLite would hold a lock
    resp = client.get("/metrics", **kwargs)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    found: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(resp.get_data(as_text=True)):
        for sample in family.samples:
            key = tuple(sorted(sample.labels.items()))
            found.setdefault(sample.name, {})[key] = sample.value
    return found


def value(found, name: str, **labels) -> float:
    return found.get(name, {}).get(tuple(sorted(labels.items())), 0.0)


def test_loopback_may_read_and_others_may_not(client):
    assert client.get("/metrics").status_code == 200
    resp = client.get("/metrics", environ_base=OUTSIDER)
    assert resp.status_code == 403


def test_the_token_opens_it_from_anywhere(db, make_app):
    app = make_app(METRICS_TOKEN="m-" + "x" * 30, METRICS_ALLOW="10.0.0.0/8")
    client = app.test_client()
    resp = client.get("/metrics", environ_base=OUTSIDER)
    assert resp.status_code == 401 and resp.headers["WWW-Authenticate"] == "Bearer"
    wrong = client.get("/metrics", environ_base=OUTSIDER, headers={"Authorization": "Bearer no"})
    assert wrong.status_code == 401
    # Loopback is no longer in the allowlist.
    assert client.get("/metrics").status_code == 401
    ok = client.get(
        "/metrics", environ_base=OUTSIDER, headers={"Authorization": "Bearer m-" + "x" * 30}
    )
    assert ok.status_code == 200
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code == 200


def test_requests_by_route_and_status(client, make_school):
    school_id = make_school().id
    client.get(f"/api/schools/{school_id}")
    client.get(f"/api/schools/{school_id}")
    client.get("/api/schools/987654")
    found = scrape(client)
    route = "/api/schools/<int:school_id>"
    count = "attendance_http_requests_total"
    assert value(found, count, method="GET", route=route, status="200") >= 2
    assert value(found, count, method="GET", route=route, status="404") >= 1
    assert not any(f"/api/schools/{school_id}" in str(k) for k in found[count])
    hist = "attendance_http_request_duration_seconds_count"
    assert value(found, hist, method="GET", route=route, status="200") >= 2


def test_attendances_recorded_counts_new_rows_only(client, make_user):
    user = make_user()
    body = {"user_id": user.id, "school_id": user.school_id, "type": "checkin", "temperature": 36.6}
    before = value(scrape(client), "attendance_attendances_recorded_total")
    headers = {"Idempotency-Key": "gate-7-event-1"}
    assert client.post("/api/attendances", json=body, headers=headers).status_code == 201
    assert client.post("/api/attendances", json=body, headers=headers).status_code == 200
    assert client.post("/api/attendances", json={**body, "temperature": 99}).status_code == 422
    after = value(scrape(client), "attendance_attendances_recorded_total")
    assert after - before == 1


def test_report_metrics(db, client, make_user, make_event):
    import datetime as dt

    user = make_user()
    for day in range(2, 7):  # a date without events would need no chunk job
        make_event(user=user, timestamp=dt.datetime(2026, 11, day, 8, tzinfo=dt.UTC))
    (school_id,) = ids(db, user, "school_id")
    before = scrape(client)
    url = f"/api/attendances/aggregate/school/{school_id}"
    week = {"from": "2026-11-02", "to": "2026-11-06"}
    assert client.get(url, query_string={**week, "granularity": "day"}).status_code == 200
    # The same past days by week: every one from the day cache.
    assert client.get(url, query_string={**week, "granularity": "week"}).status_code == 200
    found = scrape(client)

    def delta(name, **labels):
        return value(found, name, **labels) - value(before, name, **labels)

    assert delta("attendance_day_cache_misses_total") == 5
    assert delta("attendance_day_cache_hits_total") == 5
    assert delta("attendance_report_duration_seconds_count", status="finished") == 2
    assert delta("attendance_report_chunk_duration_seconds_count", status="ok") == 5
    assert delta("attendance_jobs_total", function="compute_day", status="ok") == 5
    assert delta("attendance_jobs_total", function="finalize_report", status="ok") == 2
    assert value(found, "attendance_reports", status="finished") == 2
    assert value(found, "attendance_reports", status="failed") == 0
    assert value(found, "attendance_metrics_source_up", source="database") == 1


def test_a_failed_chunk_is_counted_as_failed(
    db, make_app, make_user, make_event, make_token, monkeypatch
):
    user = make_user()
    make_event(user=user, timestamp=dt.datetime(2026, 11, 3, 8, tzinfo=dt.UTC))  # a chunk job
    (school_id,) = ids(db, user, "school_id")
    token = make_token("district")
    db.session.rollback()
    faults.install(monkeypatch, fail_days=["2026-11-03"])
    app = make_app(REPORT_CHUNK_ATTEMPTS=1)
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    before = scrape(client)
    resp = client.get(
        f"/api/attendances/aggregate/school/{school_id}",
        query_string={"from": "2026-11-03", "to": "2026-11-03"},
    )
    assert resp.get_json()["data"]["status"] == "failed"
    found = scrape(client)
    name = "attendance_report_chunk_duration_seconds_count"
    assert value(found, name, status="failed") - value(before, name, status="failed") == 1
    name = "attendance_report_duration_seconds_count"
    assert value(found, name, status="failed") - value(before, name, status="failed") == 1
    assert value(found, "attendance_reports", status="failed") == 1


def test_queue_depth_from_redis(db, make_app, redis_url):
    from attendance.jobs.queue import Call, dispatcher

    app = make_app(REDIS_URL=redis_url, JOBS_SYNCHRONOUS=False)
    with app.app_context():
        dispatcher().enqueue(Call(print, ("queued",), job_id="depth-test-1"))
        dispatcher().enqueue(Call(print, ("queued",), job_id="depth-test-2"))
    found = scrape(app.test_client())
    assert value(found, "attendance_rq_queue_depth", queue="reports") == 2
    assert value(found, "attendance_rq_workers") == 0
    assert value(found, "attendance_metrics_source_up", source="redis") == 1


def test_sources_down_do_not_break_the_scrape(make_app):
    from .conftest import CLOSED_PG, CLOSED_REDIS

    app = make_app(SQLALCHEMY_DATABASE_URI=CLOSED_PG, REDIS_URL=CLOSED_REDIS)
    found = scrape(app.test_client())
    assert value(found, "attendance_metrics_source_up", source="database") == 0
    assert value(found, "attendance_metrics_source_up", source="redis") == 0
    assert "attendance_http_requests_total" in found or "attendance_metrics_source_up" in found


COUNT_IN_A_PROCESS = textwrap.dedent(
    """
    from attendance.ops import metrics
    metrics.observe_job("compute_day", True, 0.2)
    metrics.observe_request("GET", "/api/schools", 200, 0.01)
    """
)

SCRAPE_IN_A_PROCESS = textwrap.dedent(
    """
    from attendance import create_app
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    print(app.test_client().get("/metrics").get_data(as_text=True))
    """
)


def test_counts_from_several_processes_add_up(tmp_path: Path):
    shared = tmp_path / "prom"
    shared.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(shared)}
    for _ in range(2):  # two worker processes, each counting a chunk and a request
        subprocess.run([sys.executable, "-c", COUNT_IN_A_PROCESS], env=env, check=True)
    out = subprocess.run(
        [sys.executable, "-c", SCRAPE_IN_A_PROCESS],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    found = {}
    for family in text_string_to_metric_families(out):
        for sample in family.samples:
            found.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    assert value(found, "attendance_report_chunk_duration_seconds_count", status="ok") == 2
    assert value(found, "attendance_jobs_total", function="compute_day", status="ok") == 2
    labels = {"method": "GET", "route": "/api/schools", "status": "200"}
    assert value(found, "attendance_http_requests_total", **labels) == 2
    # The scraping process's own request is not counted until it has been answered.
    assert value(found, "attendance_http_requests_total", method="GET", route="/metrics") == 0


def test_clean_multiprocess_dir_keeps_live_processes(tmp_path: Path):
    for name in (f"counter_{os.getpid()}.db", "counter_999999999.db", "histogram_999999999.db"):
        (tmp_path / name).write_bytes(b"")
    metrics.clean_multiprocess_dir(str(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"counter_{os.getpid()}.db"]


@pytest.mark.parametrize("setting", ["127.0.0.1, 10.0.0.0/8", ["127.0.0.1/32", "10.0.0.0/8"]])
def test_allowlist_forms(setting):
    nets = metrics._networks(setting)
    assert [str(n) for n in nets] == ["127.0.0.1/32", "10.0.0.0/8"]
