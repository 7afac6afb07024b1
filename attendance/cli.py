"""`flask --app attendance ...` commands."""

from __future__ import annotations

import signal
from typing import Any

import click
from flask import Flask, current_app
from werkzeug.serving import run_simple

from .extensions import current_app_object


def _exit_on_sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(0)  # so `finally` blocks run and child workers are stopped


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(min=0),
    help="Worker processes to start beside the web server when REDIS_URL is set.",
)
def serve_command(host: str, port: int, workers: int) -> None:
    """Serve the app with the embedded defaults (for `make run`; use gunicorn in production).

    With REDIS_URL set it also starts `--workers` RQ worker processes and stops them
    (gracefully) when it stops; without it, report jobs run inside this process.
    """
    from .ops import logs
    from .ops.procs import Children

    app = current_app_object()
    # Plain text for people at a terminal (in development, unless LOG_FORMAT says otherwise);
    # the worker processes started below write in the same format.
    log_format = logs.log_format(app, development_server=True)
    logs.configure(app, log_format)
    children = None
    ticker = None
    if not current_app.config.get("REDIS_URL"):
        from .jobs.reports import reap
        from .jobs.ticker import start_ticker

        reap(everything=True)  # reports left unfinished by a previous run of this process
        ticker = start_ticker(app)  # closes days and sends webhooks, as workers' reapers do
    elif workers:
        grace = _stop_grace()
        children = Children(workers, grace=grace, env={"LOG_FORMAT": log_format})
        children.start()
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    extra = f" with {workers} worker process(es)" if children else ""
    click.echo(f"attendance is running at http://{host}:{port}/{extra}  (Ctrl+C to stop)")
    click.echo(f"The dashboard: http://{host}:{port}/dashboard/")
    click.echo(f"The API's interactive page: http://{host}:{port}/api/docs")
    try:
        # Not app.run(): under the `flask` command it returns at once without serving.
        run_simple(host, port, app, threaded=True, use_reloader=False)
    finally:
        if ticker is not None:  # no tick of a server that has stopped (its last one ends)
            ticker.stop()
        if children is not None:
            click.echo("stopping the worker processes (each finishes its current job)")
            children.stop()


@click.command("worker")
@click.option(
    "--queues", "-q", multiple=True, help="Queues to listen on (default: the app's RQ_QUEUES)."
)
@click.option("--burst", is_flag=True, help="Quit once the queues are empty.")
@click.option("--name", default=None, help="Worker name (default: host and pid).")
@click.option("--reaper-interval", default=5.0, show_default=True, type=float)
@click.option(
    "--count",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="Run this many worker processes (restarted if one dies, stopped together).",
)
@click.option(
    "--metrics-port",
    type=int,
    default=None,
    envvar="WORKER_METRICS_PORT",
    help="Serve the workers' Prometheus metrics on this port (for nodes without a web process).",
)
@click.option(
    "--metrics-host",
    default="127.0.0.1",
    show_default=True,
    envvar="WORKER_METRICS_HOST",
    help="Address for --metrics-port (0.0.0.0 to be scraped from elsewhere; set METRICS_TOKEN).",
)
def worker_command(
    queues: tuple[str, ...],
    burst: bool,
    name: str | None,
    reaper_interval: float,
    count: int,
    metrics_port: int | None,
    metrics_host: str,
) -> None:
    """Run an RQ worker for the report jobs (needs REDIS_URL).

    SIGTERM (or Ctrl+C) lets the running job finish, then the worker exits.
    """
    from redis import Redis

    from .jobs.worker import AttendanceWorker
    from .ops import metrics

    url = current_app.config.get("REDIS_URL")
    if not url:
        raise click.UsageError("REDIS_URL is not set: without it, jobs run inside the web process")
    app = current_app_object()
    if count > 1:
        if burst or name:
            raise click.UsageError("--count runs long-lived, self-named workers")
        from .ops.procs import Children, supervise

        if metrics_port is not None:
            # The children count into files there; this process adds them up when scraped.
            path = metrics.multiprocess_dir() or metrics.private_multiprocess_dir()
            metrics.clean_multiprocess_dir(path)
            metrics.serve_worker_metrics(app, metrics_host, metrics_port, path)
        extra = [a for q in queues for a in ("--queues", q)]
        extra += ["--reaper-interval", str(reaper_interval)]
        grace = _stop_grace()
        supervise(Children(count, extra, grace=grace))
        return
    if metrics_port is not None:
        metrics.serve_worker_metrics(app, metrics_host, metrics_port, metrics.multiprocess_dir())
    worker = AttendanceWorker(
        list(queues or current_app.config["RQ_QUEUES"]),
        connection=Redis.from_url(url),
        name=name,
        app=app,
        reaper_interval=reaper_interval,
        worker_ttl=int(current_app.config["WORKER_TTL"]),
    )
    # Logging is set up by the app (attendance.ops.logs): RQ's lines go through it too.
    # The scheduler queues delayed jobs (webhook retries) when due; of many workers, one
    # holds its lock at a time.
    worker.work(burst=burst, with_scheduler=not burst)


@click.group("webhooks")
def webhooks_group() -> None:
    """Webhook subscriptions (see docs/webhooks.md)."""


@webhooks_group.command("rekey")
def rekey_command() -> None:
    """Re-encrypt every stored signing secret with the first WEBHOOK_SECRET_KEY (rotation)."""
    from .extensions import db
    from .services.webhooks import subscriptions

    count = subscriptions.rekey()
    db.session.commit()
    click.echo(f"re-encrypted {count} webhook secret(s) with the first key")


@click.group("partitions")
def partitions_group() -> None:
    """The monthly partitions of the events on PostgreSQL (see docs/operations.md)."""


def _month_option(value: str | None) -> Any:
    import datetime as dt

    if value is None:
        return None
    try:
        return dt.datetime.strptime(value, "%Y-%m").date()
    except ValueError:
        raise click.BadParameter("must be a month, YYYY-MM", param_hint="--from") from None


@partitions_group.command("ensure")
@click.option(
    "--months-ahead",
    type=click.IntRange(min=0, max=120),
    default=None,
    help="Months after the current one to have (default: PARTITION_MONTHS_AHEAD).",
)
@click.option(
    "--from",
    "first",
    default=None,
    metavar="YYYY-MM",
    help="Also every month from this one on (moving its events out of the default partition).",
)
@click.option(
    "--lock-timeout",
    type=click.FloatRange(min=0.1),
    default=5.0,
    show_default=True,
    help="Seconds to wait for each lock before giving up (check-ins wait behind a waiting lock).",
)
def partitions_ensure_command(
    months_ahead: int | None, first: str | None, lock_timeout: float
) -> None:
    """Add the missing monthly partitions (what the workers do every hour); idempotent."""
    from .jobs.partitions import ensure

    ahead = current_app.config["PARTITION_MONTHS_AHEAD"] if months_ahead is None else months_ahead
    result = ensure(int(ahead), _month_option(first), lock_timeout=lock_timeout)
    if not result.partitioned:
        click.echo("attendances is not partitioned here (SQLite, or not upgraded): nothing to do")
        return
    for name in result.created:
        click.echo(f"added {name}")
    click.echo(
        f"{len(result.created)} partition(s) added, {result.moved} row(s) moved out of the"
        " default partition"
    )


@partitions_group.command("list")
def partitions_list_command() -> None:
    """List the partitions: range, rows (PostgreSQL's estimate; the default's counted), size."""
    from .extensions import db
    from .services import partitions

    with db.engine.connect() as connection:
        if not partitions.is_partitioned(connection):
            click.echo("attendances is not partitioned here (SQLite, or not upgraded)")
            return
        found = partitions.partitions(connection, detailed=True)
    click.echo(f"{'partition':<26}{'from (UTC)':<22}{'to (UTC)':<22}{'rows':>12}{'MiB':>10}")
    for part in found:
        start = "default" if part.is_default else f"{part.start:%Y-%m-%d %H:%M}"
        end = "" if part.is_default else f"{part.end:%Y-%m-%d %H:%M}"
        mib = (part.size or 0) / 2**20
        click.echo(f"{part.name:<26}{start:<22}{end:<22}{part.rows:>12,}{mib:>10.1f}")


def init_app(app: Flask) -> None:
    """Register the project's commands."""
    from . import roster_cli
    from .demo.cli import demo_command

    app.cli.add_command(webhooks_group)
    app.cli.add_command(partitions_group)
    app.cli.add_command(serve_command)
    app.cli.add_command(demo_command)
    app.cli.add_command(worker_command)
    roster_cli.init_app(app)


def _stop_grace() -> int:
    """Seconds a stopping worker gets to finish its chunk: the chunk's own timeout, and some."""
    return int(current_app.config["REPORT_CHUNK_TIMEOUT"]) + 30
