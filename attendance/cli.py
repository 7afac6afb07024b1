"""`flask --app attendance ...` commands."""

from __future__ import annotations

import click
from flask import Flask, current_app


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
def serve_command(host: str, port: int) -> None:
    """Serve the app with the embedded defaults (for `make run`; use gunicorn in production)."""
    click.echo(f"attendance is running at http://{host}:{port}/  (Ctrl+C to stop)")
    current_app.run(host=host, port=port, threaded=True, use_reloader=False)


def init_app(app: Flask) -> None:
    """Register the project's commands."""
    from .demo_cli import demo_data_command

    app.cli.add_command(serve_command)
    app.cli.add_command(demo_data_command)
