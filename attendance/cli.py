"""`flask --app attendance ...` commands."""

from __future__ import annotations

import logging

import click
from flask import Flask, current_app


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
def serve_command(host: str, port: int) -> None:
    """Serve the app with the embedded defaults (for `make run`; use gunicorn in production)."""
    if not current_app.config.get("REDIS_URL"):
        from .jobs.reports import reap

        reap(everything=True)  # reports left unfinished by a previous run of this process
    click.echo(f"attendance is running at http://{host}:{port}/  (Ctrl+C to stop)")
    current_app.run(host=host, port=port, threaded=True, use_reloader=False)


@click.command("worker")
@click.option(
    "--queues", "-q", multiple=True, help="Queues to listen on (default: the app's RQ_QUEUES)."
)
@click.option("--burst", is_flag=True, help="Quit once the queues are empty.")
@click.option("--name", default=None, help="Worker name (default: host and pid).")
@click.option("--reaper-interval", default=5.0, show_default=True, type=float)
def worker_command(
    queues: tuple[str, ...], burst: bool, name: str | None, reaper_interval: float
) -> None:
    """Run an RQ worker for the report jobs (needs REDIS_URL)."""
    from redis import Redis

    from .jobs.worker import AttendanceWorker

    url = current_app.config.get("REDIS_URL")
    if not url:
        raise click.UsageError("REDIS_URL is not set: without it, jobs run inside the web process")
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    worker = AttendanceWorker(
        list(queues or current_app.config["RQ_QUEUES"]),
        connection=Redis.from_url(url),
        name=name,
        app=current_app._get_current_object(),  # type: ignore[attr-defined]
        reaper_interval=reaper_interval,
    )
    worker.work(burst=burst, with_scheduler=False)


def init_app(app: Flask) -> None:
    """Register the project's commands."""
    app.cli.add_command(serve_command)
    app.cli.add_command(worker_command)
