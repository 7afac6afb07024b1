"""Security: who is calling (tokens, admins), what they may touch, and production hardening."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Install the token check and register the security commands."""
    from . import cli, principals

    principals.init_app(app)
    cli.init_app(app)
