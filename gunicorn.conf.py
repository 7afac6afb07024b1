"""gunicorn settings for the web process: `gunicorn -c gunicorn.conf.py wsgi:app`.

Environment: PORT (8000), WEB_CONCURRENCY (2 x cores + 1 processes), WEB_THREADS (4 per
process), WEB_TIMEOUT (60 s), PROMETHEUS_MULTIPROC_DIR (a folder under the temp dir).
See docs/operations.md.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import tempfile
from typing import Any

from gunicorn import glogging

bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"  # noqa: S104 - a server
workers = int(os.environ.get("WEB_CONCURRENCY") or multiprocessing.cpu_count() * 2 + 1)
# Threads, because the aggregate endpoint may wait (up to REPORT_WAIT_MAX, 30 s) for a
# report: with sync workers a few waiting requests would block every gate device.
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS") or 4)
# Longer than the longest wait a request may ask for, so gunicorn never kills one of those.
timeout = int(os.environ.get("WEB_TIMEOUT") or 60)
graceful_timeout = 30  # SIGTERM: requests in flight get this long to finish
keepalive = 5  # behind a load balancer, whose idle timeout should be longer
# Bounded memory over weeks of uptime; the jitter keeps the processes from restarting together.
# Rarely: a process that restarts closes its kept-alive connections, and their clients
# reconnect while its successor is still starting, so they all land on the other
# processes and stay there. At 5,000 requests a gate fleet's check-ins recycled each
# process every few seconds and left the devices' connections on one process of two,
# which cost the check-ins a quarter of their rate in `make bench-ingest`.
max_requests = 100_000
max_requests_jitter = 20_000
# Our JSON request log (attendance.ops.web) has the route, status, duration and request id:
# gunicorn's access log would say the same thing again, less well.
accesslog = None
errorlog = "-"
# gunicorn's own lines (start, worker boot and exit) in the app's format, through the one
# handler on the root logger that the app also uses (attendance.ops.logs).
_formatter = (
    "attendance.ops.logs.TextFormatter"
    if os.environ.get("LOG_FORMAT", "json").lower() == "text"
    else "attendance.ops.logs.JsonFormatter"
)


class Logger(glogging.Logger):
    """gunicorn's logger, not building access-log lines that its logger would drop.

    With a logconfig, gunicorn builds each request's access-log line (a few dozen
    fields) before its logger, at WARNING here, drops it: a cost on every check-in.
    """

    def access(self, resp: Any, req: Any, environ: Any, request_time: Any) -> None:
        if self.access_log.isEnabledFor(logging.INFO):
            super().access(resp, req, environ, request_time)


logger_class = Logger
logconfig_dict = {
    "root": {"level": os.environ.get("LOG_LEVEL", "INFO").upper(), "handlers": ["stderr"]},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": [], "propagate": True},
        # With a logconfig, gunicorn writes access lines again: drop them (see accesslog).
        "gunicorn.access": {"level": "WARNING", "handlers": [], "propagate": False},
        "alembic.runtime.plugins": {"level": "WARNING"},  # one INFO line per plugin loaded
    },
    "handlers": {"stderr": {"class": "attendance.ops.logs.StderrHandler", "formatter": "app"}},
    "formatters": {"app": {"()": _formatter}},
}
# Not preloaded: each process creates the app after the fork, so no database or Redis
# connection made in the master is shared by its children. It costs a little memory. The
# master imports the app's code, though (on_starting): a worker that starts again (see
# max_requests) makes its app in milliseconds instead of importing everything again.
preload_app = False

# Prometheus: the processes share their counts through files in one folder, read by
# whichever process answers /metrics. Set before any worker imports prometheus_client.
_metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or os.path.join(
    tempfile.gettempdir(), "attendance-metrics"
)
os.environ["PROMETHEUS_MULTIPROC_DIR"] = _metrics_dir
os.makedirs(_metrics_dir, exist_ok=True)


def on_starting(server: Any) -> None:
    """Forget the counts of processes that are gone (keep those of a running worker), and
    import the app's code, so that each worker forked from here starts in milliseconds."""
    from attendance.ops.metrics import clean_multiprocess_dir
    from attendance.ops.preload import freeze, import_modules

    clean_multiprocess_dir(_metrics_dir)
    import_modules()
    freeze()  # what the workers inherit stays shared, and out of their collections


def post_worker_init(worker: Any) -> None:
    """The worker has made its app: its long-lived objects too are left out of collections."""
    from attendance.ops.preload import freeze

    freeze()


def child_exit(server: Any, worker: Any) -> None:
    """A web process ended: its live gauges stop counting (its counters stay summed)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
