"""Per request: a request id, one log line, and the request metrics."""

from __future__ import annotations

import logging
import time
from typing import Any

from flask import Flask, Request, Response, g, request, request_started
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface

from . import context, metrics

log = logging.getLogger("attendance.request")

# Probes and scrapes come every few seconds from every orchestrator and Prometheus:
# logged at DEBUG, so the default INFO level keeps them out of the way.
QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
UNMATCHED = "<unmatched>"  # the route label of a 404: never the raw path (unbounded labels)


def _start(sender: Flask, **extra: Any) -> None:
    rid = context.accept_request_id(request.headers.get(context.REQUEST_ID_HEADER))
    ops = g._get_current_object()
    ops.ops_request_id = rid
    ops.ops_token = context.request_id.set(rid)
    ops.ops_started = time.perf_counter()


def _finish(response: Response) -> Response:
    # The objects behind the proxies, each looked up once (a lookup showed in a profile).
    req: Request = request._get_current_object()  # type: ignore[attr-defined]
    ops = g._get_current_object()
    started = getattr(ops, "ops_started", None)
    seconds = time.perf_counter() - started if started is not None else 0.0
    rule = req.url_rule.rule if req.url_rule is not None else UNMATCHED
    rid = getattr(ops, "ops_request_id", None) or context.accept_request_id(None)
    response.headers[context.REQUEST_ID_HEADER] = rid
    answered(req.environ, req.method, rule, req.path, response.status_code, seconds, rid)
    return response


def answered(
    environ: dict[str, Any],
    method: str,
    rule: str,
    path: str,
    status: int,
    seconds: float,
    rid: str,
) -> None:
    """Count an answered request in the metrics and write its log line."""
    metrics.observe_request(method, rule, status, seconds)
    level = logging.DEBUG if path in QUIET_PATHS else logging.INFO
    if not log.isEnabledFor(level):
        return
    log.log(
        level,
        "%s %s %s",
        method,
        path,
        status,
        extra={
            "event": "request",
            "method": method,
            "route": rule,
            "path": path,  # never the query string: it may carry a token
            "status": status,
            "duration_ms": round(seconds * 1000, 2),
            "request_id": rid,
            "remote_addr": environ.get("REMOTE_ADDR"),
            # The header itself: werkzeug's UserAgent object would only give it back.
            "user_agent": environ.get("HTTP_USER_AGENT", "")[:200],
        },
    )


def _teardown(error: BaseException | None) -> None:
    token: Any = g.pop("ops_token", None)
    if token is not None:
        try:
            context.request_id.reset(token)
        except ValueError:  # set in another context (a streamed response): nothing to undo
            pass


class CookieSessions(SecureCookieSessionInterface):
    """Flask's cookie sessions, without building a signer for a request that carries no
    session cookie (every API request): the answer is the same new, empty session.

    Without a Cookie header at all, the cookies are not even parsed: werkzeug looks for
    the header among every entry of the WSGI environ, which showed in a check-in's profile.
    """

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if app.secret_key and (
            "HTTP_COOKIE" not in request.environ
            or not request.cookies.get(self.get_cookie_name(app))
        ):
            return self.session_class()
        return super().open_session(app, request)


def init_app(app: Flask) -> None:
    """Install the hooks.

    The start is a `request_started` receiver: it runs before every `before_request`
    function, so a request that one of them refuses (401, 429) is still timed and has an id.
    """
    app.session_interface = CookieSessions()
    request_started.connect(_start, app)
    app.after_request(_finish)
    app.teardown_request(_teardown)
