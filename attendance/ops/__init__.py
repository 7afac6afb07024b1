"""Running the service: health endpoints, metrics, request and job logs, the RQ dashboard."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Install logging, the request hooks, /healthz, /readyz, /metrics and the ops commands."""
    from . import cli, health, logs, metrics, rqdash, web

    logs.configure(app)
    web.init_app(app)
    health.init_app(app)
    metrics.init_app(app)
    rqdash.init_app(app)
    cli.init_app(app)
