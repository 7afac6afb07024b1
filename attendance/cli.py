"""`flask --app attendance ...` commands."""

from __future__ import annotations

import logging

import click
from flask import Flask, current_app
from werkzeug.serving import run_simple


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
def serve_command(host: str, port: int) -> None:
    """Serve the app with the embedded defaults (for `make run`; use gunicorn in production)."""
    if not current_app.config.get("REDIS_URL"):
        from .jobs.reports import reap

        reap(everything=True)  # reports left unfinished by a previous run of this process
    click.echo(f"attendance is running at http://{host}:{port}/  (Ctrl+C to stop)")
    click.echo(f"The dashboard: http://{host}:{port}/dashboard/")
    # Not app.run(): under the `flask` command it returns at once without serving.
    run_simple(host, port, current_app._get_current_object(), threaded=True)  # type: ignore[attr-defined]


@click.command("demo")
@click.option("--schools", default=3, show_default=True, type=click.IntRange(1, 50))
@click.option("--users", default=60, show_default=True, type=click.IntRange(1, 5000))
@click.option("--weeks", default=12, show_default=True, type=click.IntRange(1, 52))
def demo_command(schools: int, users: int, weeks: int) -> None:
    """Demo schools, pupils and events in an empty database, and demo logins (development only)."""
    from .extensions import db
    from .services import demodata

    if current_app.config["ATTENDANCE_ENV"] != "development":
        raise click.ClickException("demo data is for development only (ATTENDANCE_ENV)")
    if demodata.is_empty():
        loaded = demodata.load_demo(schools=schools, users=users, weeks=weeks)
        db.session.commit()
        click.echo(
            f"Loaded {loaded.schools} demo schools, {loaded.users} pupils, "
            f"{loaded.events} check-ins and check-outs over {weeks} weeks."
        )
    else:
        click.echo("The database already has schools: no demo data loaded.")
    accounts = demodata.demo_admins()
    db.session.commit()
    for email, role, school_id in accounts:
        scope = "every school" if school_id is None else f"school {school_id}"
        click.echo(f"Demo login ({role} admin, {scope}): {email} / {demodata.DEMO_PASSWORD}")


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
    from .demo_cli import demo_data_command

    app.cli.add_command(serve_command)
    app.cli.add_command(demo_command)
    app.cli.add_command(demo_data_command)
    app.cli.add_command(worker_command)
