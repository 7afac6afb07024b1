"""Security: who is calling (tokens, admins), what they may touch, and production hardening."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Install the token check, the hardening, the rate limits and the commands."""
    from . import cli, hardening, limits, principals

    principals.init_app(app)
    hardening.init_app(app)
    limits.init_app(app)
    cli.init_app(app)
