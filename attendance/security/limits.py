"""Rate limits: API writes per token (counted by security/gate.py in the round trip that
also checks the token cache), and Flask-Limiter for the dashboard's sign-in throttle, both
on Redis when REDIS_URL is set."""

from __future__ import annotations

import math
import time
from typing import Any

from flask import Flask, Response, current_app, g, make_response
from flask_limiter import Limiter, RateLimitExceeded
from flask_limiter.util import get_remote_address

from ..errors import html_error
from ..wire import error_response, is_api_request
from . import tokens
from .gate import Checked, Gate

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def rate_key() -> str:
    """The bucket: the caller's token (or logged-in admin), else its address."""
    principal = g.get("principal")
    if principal is not None and principal.token_id is not None:
        return f"token:{principal.token_id}"
    if principal is not None and principal.admin_id is not None:
        return f"admin:{principal.admin_id}"
    return f"addr:{get_remote_address()}"


def too_many(gate: Gate, checked: Checked) -> Response:
    """429 for an API write past the token's limit, with Retry-After."""
    retry = gate.retry_after(checked)
    detail = f"rate limit exceeded ({gate.limit}); retry in {retry} s"
    response = error_response({"detail": detail}, 429)
    response.headers["Retry-After"] = str(retry)
    return response


def _too_many(error: RateLimitExceeded) -> Any:
    limiter: Limiter = current_app.extensions["attendance_limiter"]
    current = limiter.current_limit
    retry = max(1, math.ceil(current.reset_at - time.time())) if current else 60
    detail = f"rate limit exceeded ({error.description}); retry in {retry} s"
    if is_api_request():
        response = error_response({"detail": detail}, 429)
    else:
        response = make_response(html_error(error))
    response.status_code = 429
    response.headers["Retry-After"] = str(retry)
    return response


def _limiters(hook: Any, limiter: Limiter) -> bool:
    """True for a hook Flask-Limiter installed (a method of it, or a partial on it)."""
    return getattr(hook, "__self__", None) is limiter or getattr(hook, "args", None) == (limiter,)


def init_app(app: Flask) -> None:
    """The write limit's gate, and a limiter for the sign-in throttle and page limits."""
    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config.get("REDIS_URL") or "memory://")
    app.config.setdefault("RATELIMIT_KEY_PREFIX", "attendance")
    storage = app.config["RATELIMIT_STORAGE_URI"]
    enabled = app.config.get("RATELIMIT_ENABLED", True)
    app.extensions["attendance_gate"] = Gate(
        storage if storage.startswith(("redis://", "rediss://", "unix://")) else None,
        app.config["RATELIMIT_WRITE"] if enabled else "",
        app.config["RATELIMIT_KEY_PREFIX"],
    )
    tokens.install_hooks()
    limiter = Limiter(
        key_func=rate_key,
        # Fixed windows cost one counter increment per hit; no headers on ordinary answers.
        strategy="fixed-window",
        headers_enabled=False,
        # When Redis is down, count in memory rather than refuse sign-ins.
        in_memory_fallback_enabled=True,
        swallow_errors=True,
    )
    limiter.init_app(app)
    # Its before-request check looks for default and application limits, of which there
    # are none: a route with a limit of its own checks it in its decorator. Its
    # after-request hook adds headers (off here) and deducts `deduct_when` limits (none),
    # and its teardown empties state kept on the request context, which goes with the
    # request anyway: on every check-in, the three cost more than the decorated routes use.
    app.before_request_funcs[None].remove(limiter._check_request_limit)
    app.after_request_funcs[None] = [
        f for f in app.after_request_funcs[None] if not _limiters(f, limiter)
    ]
    app.teardown_request_funcs[None] = [
        f for f in app.teardown_request_funcs[None] if not _limiters(f, limiter)
    ]
    app.extensions["attendance_limiter"] = limiter
    app.register_error_handler(RateLimitExceeded, _too_many)
