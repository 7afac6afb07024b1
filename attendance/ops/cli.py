"""`flask --app attendance worker-health`: a probe for orchestrators."""

from __future__ import annotations

import json
import sys

import click
from flask import Flask

from ..extensions import current_app_object


@click.command("worker-health")
@click.option(
    "--this-host",
    is_flag=True,
    help="Only count workers on this host (a liveness probe inside a worker's container).",
)
@click.option(
    "--max-age",
    type=float,
    default=None,
    help="Seconds since a worker's last heartbeat (default: WORKER_HEARTBEAT_MAX_AGE).",
)
def worker_health_command(this_host: bool, max_age: float | None) -> None:
    """Exit 0 when Redis answers and a worker was seen recently, 1 otherwise (JSON on stdout)."""
    from .health import worker_health

    app = current_app_object()
    ok, summary = worker_health(app, this_host, max_age)
    click.echo(json.dumps(summary))
    sys.exit(0 if ok else 1)


def init_app(app: Flask) -> None:
    """Register the ops commands."""
    app.cli.add_command(worker_health_command)
