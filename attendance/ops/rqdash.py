"""rq-dashboard at /ops/rq: read-only, for district admins signed in to the dashboard.

rq-dashboard has no authentication of its own and its buttons post without a CSRF
token, so every request to it passes our gate first, and only reading is allowed:
RQ_DASHBOARD_DISABLE_DELETE turns off deleting and emptying, and the gate refuses every
other change (requeue, compact) too. Lost work is the reaper's business, not a button's.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, abort, request

PREFIX = "/ops/rq"
BLUEPRINT = "rq_dashboard"
# rq-dashboard's pages run inline scripts and compile underscore templates (eval), so they
# get their own policy, looser than the app's pages (which a later after_request would
# otherwise give them): it is a read-only page for signed-in district admins, and every
# script and style still comes from this origin.
CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
# Routes that change state although some answer GET.
_WRITES = ("requeue_all", "requeue_job_view", "delete_job_view", "empty_queue", "compact_queue")


def _gate() -> Any:
    from .access import require_district_admin

    refused = require_district_admin()
    if refused is not None:
        return refused
    endpoint = (request.endpoint or "").rsplit(".", 1)[-1]
    if request.method not in ("GET", "HEAD") or endpoint in _WRITES:
        abort(405)
    return None


def _policy(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    return response


def init_app(app: Flask) -> None:
    """Mount the dashboard when there is a Redis to show."""
    if not app.config.get("REDIS_URL"):
        return
    import rq_dashboard
    from rq_dashboard.web import setup_rq_connection

    app.config.setdefault("RQ_DASHBOARD_REDIS_URL", app.config["REDIS_URL"])
    app.config["RQ_DASHBOARD_DISABLE_DELETE"] = True
    # Hooks of rq-dashboard's blueprint alone (keyed by its name, as Blueprint.before_request
    # registers them): no other request pays for them, a check-in included.
    app.before_request_funcs.setdefault(BLUEPRINT, []).append(_gate)
    app.after_request_funcs.setdefault(BLUEPRINT, []).append(_policy)
    app.register_blueprint(rq_dashboard.blueprint, url_prefix=PREFIX)
    setup_rq_connection(app)
