"""The admin dashboard: server-rendered pages with Plotly charts."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, Flask, g, redirect, request, url_for
from werkzeug.wrappers import Response

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")


def _home() -> Response:
    """The site's root is the dashboard."""
    return redirect(url_for("dashboard.overview"))


def local_time(instant: str | dt.datetime, zone: ZoneInfo) -> str:
    """HH:MM of an instant (aware datetime or ISO string) in the school's timezone."""
    if isinstance(instant, str):
        instant = dt.datetime.fromisoformat(instant)
    return instant.astimezone(zone).strftime("%H:%M")


def page_url(args: dict[str, str] | None = None) -> str:
    """This page's URL (same route and path arguments) with these query arguments.

    A form that shows its page again with errors names that page in `g.page`
    (endpoint, path arguments): the page's links lead there, not to the form's route."""
    endpoint, view_args = g.get("page") or (request.endpoint, request.view_args)
    values: dict[str, Any] = {**(view_args or {}), **(args or {})}
    return url_for(endpoint or "dashboard.overview", **values)


def init_app(app: Flask) -> None:
    """Attach the routes to the blueprint and register it."""
    # Importing the modules attaches their routes to the blueprint.
    from . import (  # noqa: F401
        assets,
        auth,
        district,
        people,
        photos,
        pupil,
        pupil_forms,
        roll_calls,
        roster,
        settings,
        views,
        webhooks,
    )

    app.register_blueprint(bp)
    app.add_url_rule("/", "home", _home)
    app.jinja_env.filters["chart_json"] = assets.chart_json
    app.jinja_env.filters["local_time"] = local_time
    app.jinja_env.globals["plotly_version"] = assets.plotly_version()
    app.jinja_env.globals["page_url"] = page_url
    app.jinja_env.globals["open_roll_call"] = roll_calls.open_roll_call
