"""Prometheus metrics: what the processes count, and what is read live at scrape time.

Counted where it happens (and, under gunicorn or with several worker processes, shared
through `PROMETHEUS_MULTIPROC_DIR`): requests by route and status, attendances recorded,
jobs and chunk durations, finished reports' durations, day-cache hits and misses.

Read at scrape time by the process that answers /metrics, so they are the same whichever
process or node answers: reports by status (PostgreSQL), queue depth and workers (Redis).
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import re
from collections.abc import Iterable, Iterator
from typing import Any

from flask import Blueprint, Flask, Response, current_app, request
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector
from sqlalchemy import event, func, inspect, select
from sqlalchemy.orm import Session

from ..extensions import db, in_transaction

log = logging.getLogger(__name__)
bp = Blueprint("metrics", __name__)

_LATENCY = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_JOB = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
_REPORT = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900)

HTTP_REQUESTS = Counter(
    "attendance_http_requests_total",
    "HTTP requests answered, by method, route (the URL rule) and status",
    ["method", "route", "status"],
)
HTTP_SECONDS = Histogram(
    "attendance_http_request_duration_seconds",
    "Time to answer an HTTP request, by method, route and status",
    ["method", "route", "status"],
    buckets=_LATENCY,
)
ATTENDANCES = Counter(
    "attendance_attendances_recorded_total", "New attendance events stored (retries not counted)"
)
JOBS = Counter(
    "attendance_jobs_total", "Report jobs run, by function and outcome", ["function", "status"]
)
CHUNK_SECONDS = Histogram(
    "attendance_report_chunk_duration_seconds",
    "Time a chunk job (one school-day of a report) took, by outcome",
    ["status"],
    buckets=_JOB,
)
REPORT_SECONDS = Histogram(
    "attendance_report_duration_seconds",
    "Time from a report's request to its end (finished_at - created_at), by final status",
    ["status"],
    buckets=_REPORT,
)
DAY_CACHE_HITS = Counter(
    "attendance_day_cache_hits_total", "Past days of planned reports taken from the day cache"
)
DAY_CACHE_MISSES = Counter(
    "attendance_day_cache_misses_total", "Days of planned reports that had to be computed"
)


# The metrics of each (method, route, status) seen: `labels()` looks them up under a lock
# on every call, which showed in the profile of a check-in.
_by_labels: dict[tuple[str, str, int], tuple[Any, Any]] = {}


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    """Count one answered request."""
    key = (method, route, status)
    children = _by_labels.get(key)
    if children is None:
        labels = (method, route, str(status))
        children = _by_labels[key] = (HTTP_REQUESTS.labels(*labels), HTTP_SECONDS.labels(*labels))
    children[0].inc()
    children[1].observe(seconds)


def observe_job(function: str, ok: bool, seconds: float) -> None:
    """Count one job run (and time it, when it is a chunk)."""
    status = "ok" if ok else "failed"
    JOBS.labels(function, status).inc()
    if function == "compute_day":
        CHUNK_SECONDS.labels(status).observe(seconds)


# -- counted on commit -------------------------------------------------------------------
# Reports and chunks change state through the ORM in the pipeline's services; we watch
# the session instead of adding calls to them, and count only what a commit made true.

_PENDING = "attendance.ops.metrics"


def _pending(session: Session) -> list[tuple[str, Any]]:
    pending: list[tuple[str, Any]] = session.info.setdefault(_PENDING, [])
    return pending


def _after_flush(session: Session, flush_context: Any) -> None:
    from ..models import REPORT_FAILED, REPORT_FINISHED, Report

    pending = _pending(session)
    for obj in list(session.new) + list(session.dirty):
        if not isinstance(obj, Report) or obj.status not in (REPORT_FINISHED, REPORT_FAILED):
            continue
        if inspect(obj).attrs.status.history.added and obj.finished_at and obj.created_at:
            seconds = (obj.finished_at - obj.created_at).total_seconds()
            pending.append(("report", (obj.status, max(seconds, 0.0))))


def _after_commit(session: Session) -> None:
    for kind, value in session.info.pop(_PENDING, []):
        if kind == "hit":
            DAY_CACHE_HITS.inc(value)
        elif kind == "miss":
            DAY_CACHE_MISSES.inc(value)
        elif kind == "report":
            REPORT_SECONDS.labels(value[0]).observe(value[1])
        elif kind == "attendances":
            ATTENDANCES.inc(value)


def _after_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)


def _attendances_recorded(sender: Any, count: int = 1, **extra: Any) -> None:
    if in_transaction():
        _pending(db.session()).append(("attendances", count))
    else:  # stored by a statement of its own (services/attendances.py): committed already
        ATTENDANCES.inc(count)


def _report_planned(sender: Any, hits: int = 0, misses: int = 0, **extra: Any) -> None:
    _pending(db.session()).extend((("hit", hits), ("miss", misses)))


_installed = False


def install_hooks() -> None:
    """Watch sessions and signals (once per process: the metrics are per process too)."""
    global _installed
    if _installed:
        return
    from ..signals import attendances_recorded, report_planned

    event.listen(Session, "after_flush", _after_flush)
    event.listen(Session, "after_commit", _after_commit)
    event.listen(Session, "after_rollback", _after_rollback)
    attendances_recorded.connect(_attendances_recorded)
    report_planned.connect(_report_planned)
    _installed = True


# -- read at scrape time -----------------------------------------------------------------


class LiveCollector(Collector):
    """Figures read from PostgreSQL and Redis when /metrics is scraped."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "attendance_metrics_source_up",
            "Whether the last scrape could read a source (1) or not (0)",
            labels=["source"],
        )
        yield from self._database(up)
        if self.app.config.get("REDIS_URL"):
            yield from self._redis(up)
        yield up

    def _database(self, up: GaugeMetricFamily) -> Iterable[Metric]:
        from ..models import REPORT_FAILED, REPORT_FINISHED, REPORT_QUEUED, REPORT_RUNNING, Report
        from .health import probe_engine

        gauge = GaugeMetricFamily(
            "attendance_reports", "Reports in the database, by status", labels=["status"]
        )
        try:
            with probe_engine(self.app).connect() as conn:
                counts = dict(
                    conn.execute(select(Report.status, func.count()).group_by(Report.status)).all()
                )
        except Exception as error:
            log.warning("metrics: cannot read the database: %s", type(error).__name__)
            up.add_metric(["database"], 0)
            return
        up.add_metric(["database"], 1)
        for status in (REPORT_QUEUED, REPORT_RUNNING, REPORT_FINISHED, REPORT_FAILED):
            gauge.add_metric([status], counts.get(status, 0))
        yield gauge

    def _redis(self, up: GaugeMetricFamily) -> Iterable[Metric]:
        from rq import Queue, Worker

        from .health import probe_redis

        depth = GaugeMetricFamily(
            "attendance_rq_queue_depth", "Jobs waiting in an RQ queue", labels=["queue"]
        )
        failed = GaugeMetricFamily(
            "attendance_rq_failed_jobs", "Jobs in an RQ queue's failed registry", labels=["queue"]
        )
        workers = GaugeMetricFamily("attendance_rq_workers", "RQ workers registered in Redis")
        try:
            connection = probe_redis(self.app)
            for name in self.app.config["RQ_QUEUES"]:
                queue = Queue(name, connection=connection)
                depth.add_metric([name], queue.count)
                failed.add_metric([name], queue.failed_job_registry.count)
            workers.add_metric([], len(Worker.all(connection=connection)))
        except Exception as error:
            log.warning("metrics: cannot read Redis: %s", type(error).__name__)
            up.add_metric(["redis"], 0)
            return
        up.add_metric(["redis"], 1)
        yield from (depth, failed, workers)


class _Local(Collector):
    """This process's own metrics (the default registry), when not in multiprocess mode."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


def multiprocess_dir() -> str | None:
    """The directory processes share their counts through, if set."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def private_multiprocess_dir() -> str:
    """A fresh directory for this process's children, set in the environment they inherit."""
    import tempfile

    path = tempfile.mkdtemp(prefix="attendance-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    return path


def scrape_registry(app: Flask) -> CollectorRegistry:
    """What a scrape reads: every process's counts (or this one's), and the live figures."""
    registry = CollectorRegistry()
    if multiprocess_dir():
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_Local())
    registry.register(LiveCollector(app))
    return registry


# -- the endpoint ------------------------------------------------------------------------


def _networks(value: Any) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    items = value.split(",") if isinstance(value, str) else list(value or ())
    return [ipaddress.ip_network(item.strip(), strict=False) for item in items if item.strip()]


def may_read(token: str | None, networks: list[Any], authorization: str, address: str) -> bool:
    """The right token, or (without a token in the request) an allowed network."""
    if token and authorization[:7].lower() == "bearer ":
        return hmac.compare_digest(authorization[7:].strip().encode(), str(token).encode())
    try:
        addr = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(addr in net for net in networks)


def _allowed() -> bool:
    return may_read(
        current_app.config.get("METRICS_TOKEN"),
        current_app.extensions["attendance.ops.metrics_allow"],
        request.headers.get("Authorization", ""),
        request.remote_addr or "",
    )


@bp.route("/metrics")
def metrics_view() -> Response:
    """Prometheus text format; a bearer token or an allowed network is needed."""
    if not _allowed():
        if current_app.config.get("METRICS_TOKEN"):
            return Response(
                "unauthorized\n", 401, {"WWW-Authenticate": "Bearer", "Content-Type": "text/plain"}
            )
        return Response("forbidden\n", 403, {"Content-Type": "text/plain"})
    from ..extensions import current_app_object

    app = current_app_object()
    # The classic text format unless the scraper asks for OpenMetrics.
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    return Response(encode(scrape_registry(app)), 200, {"Content-Type": content_type})


def init_app(app: Flask) -> None:
    """Register /metrics and start counting."""
    app.extensions["attendance.ops.metrics_allow"] = _networks(app.config["METRICS_ALLOW"])
    install_hooks()
    app.register_blueprint(bp)


def clean_multiprocess_dir(path: str) -> None:
    """Remove the files of processes that are gone (at a start: their counts start over).

    The files of live processes stay: web and worker processes of one node may share the
    directory, and a web server restarting must not wipe a running worker's counts.
    """
    for entry in os.scandir(path):
        match = _PID_FILE.fullmatch(entry.name)
        if match is None:
            continue
        pid = int(match.group(1))
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            os.unlink(entry.path)
        except PermissionError:
            pass  # alive, another user's


_PID_FILE = re.compile(r"[a-z_]+_(\d+)\.db")


# -- a worker node's own endpoint ----------------------------------------------------------


def serve_worker_metrics(app: Flask, host: str, port: int, path: str | None) -> Any:
    """Serve this process's counts (or, with `path`, those of every process writing there)
    on host:port, behind the same token and networks as /metrics; returns the server.

    For worker-only nodes, whose counts no web process can read.
    """
    import threading
    from socketserver import ThreadingMixIn
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

    from prometheus_client.exposition import make_wsgi_app

    registry = CollectorRegistry()
    if path:
        multiprocess.MultiProcessCollector(registry, path=path)
    else:
        registry.register(_Local())
    exporter = make_wsgi_app(registry)
    token = app.config.get("METRICS_TOKEN")
    networks = _networks(app.config["METRICS_ALLOW"])

    def guarded(environ: dict[str, Any], start_response: Any) -> Any:
        allowed = may_read(
            token,
            networks,
            environ.get("HTTP_AUTHORIZATION", ""),
            environ.get("REMOTE_ADDR", ""),
        )
        if not allowed:
            start_response("401 Unauthorized" if token else "403 Forbidden", [])
            return [b""]
        return exporter(environ, start_response)

    class Quiet(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass  # a scrape every few seconds is not news

    class Threaded(ThreadingMixIn, WSGIServer):
        daemon_threads = True

    server = make_server(host, port, guarded, server_class=Threaded, handler_class=Quiet)
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    log.info("worker metrics on http://%s:%d/metrics", host, server.server_port)
    return server
