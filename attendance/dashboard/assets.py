"""Assets served from the installed packages (there is no CDN: schools run offline)."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import plotly.graph_objects as go
from flask import Response, abort, send_file
from markupsafe import Markup
from plotly.offline import get_plotlyjs_version

from . import bp

YEAR = 365 * 24 * 3600


@cache
def plotly_version() -> str:
    """The version of plotly.js bundled with the installed plotly package."""
    return get_plotlyjs_version()


@bp.get("/assets/plotly-<version>.min.js")
def plotly_js(version: str) -> Response:
    """plotly.js from the plotly package; the version in the URL makes it cacheable forever."""
    if version != plotly_version():
        abort(404)
    path = resources.files("plotly") / "package_data" / "plotly.min.js"
    with resources.as_file(path) as file:
        response = send_file(file, mimetype="text/javascript", max_age=YEAR, conditional=True)
    response.cache_control.immutable = True
    response.cache_control.public = True
    return response


def chart_json(figure: go.Figure | dict[str, Any]) -> Markup:
    """A figure as JSON that is safe inside a `<script type="application/json">` block."""
    text = figure.to_json() if isinstance(figure, go.Figure) else go.Figure(figure).to_json()
    # The same escapes as Flask's htmlsafe JSON: no "</script>" can close the block early.
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("'", "\\u0027")):
        text = text.replace(char, escape)
    return Markup(text)  # noqa: S704 - escaped above, for a JSON (not HTML) context
