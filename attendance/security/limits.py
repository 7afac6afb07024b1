"""Rate limits on writes, per token: Flask-Limiter, on Redis when REDIS_URL is set."""

from __future__ import annotations

import math
import time
from typing import Any

from flask import Flask, current_app, g, make_response, request
from flask_limiter import Limiter, RateLimitExceeded
from flask_limiter.util import get_remote_address

from ..errors import html_error
from ..wire import error_response, is_api_request

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def rate_key() -> str:
    """The bucket: the caller's token (or logged-in admin), else its address."""
    principal = g.get("principal")
    if principal is not None and principal.token_id is not None:
        return f"token:{principal.token_id}"
    if principal is not None and principal.admin_id is not None:
        return f"admin:{principal.admin_id}"
    return f"addr:{get_remote_address()}"


def _not_a_write() -> bool:
    return request.method not in WRITE_METHODS or not is_api_request()


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


def init_app(app: Flask) -> None:
    """One limiter per app: every write of a token shares one RATELIMIT_WRITE bucket."""
    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config.get("REDIS_URL") or "memory://")
    app.config.setdefault("RATELIMIT_KEY_PREFIX", "attendance")
    limiter = Limiter(
        key_func=rate_key,
        application_limits=[app.config["RATELIMIT_WRITE"]] if app.config["RATELIMIT_WRITE"] else [],
        application_limits_exempt_when=_not_a_write,
        # Fixed windows cost one counter increment per write; no headers on ordinary answers,
        # so the ingest path makes no extra storage round trip.
        strategy="fixed-window",
        headers_enabled=False,
        # When Redis is down, count in memory rather than refuse check-ins.
        in_memory_fallback_enabled=True,
        swallow_errors=True,
    )
    limiter.init_app(app)
    app.extensions["attendance_limiter"] = limiter
    app.register_error_handler(RateLimitExceeded, _too_many)
