"""Production hardening: no debugger, proxy awareness, security headers, secure cookies."""

from __future__ import annotations

import secrets
from typing import IO, cast

import flask
from flask import Flask, Response, g, request
from flask.helpers import get_debug_flag
from flask_smorest import abort
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.utils import cached_property
from werkzeug.wsgi import LimitedStream, get_input_stream

from ..wire import is_api_request

# The API answers JSON only: nothing may run, load or frame it.
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
# Pages: scripts from this origin only (the dashboard self-hosts Plotly; plotly.js 4 needs no
# eval), inline scripts only with the request's nonce. Plotly injects <style> elements and
# style attributes, hence 'unsafe-inline' for styles (styles cannot run code).
PAGE_CSP = (
    "default-src 'self'; script-src 'self'{nonce}; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
HSTS = "max-age=63072000; includeSubDomains"
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}


class _BoundedStream(LimitedStream):
    """A body without Content-Length (chunked), read up to the limit: past it is a 413.

    Werkzeug's own stream stops reading at the limit and hands over what it has, so a
    3 MiB chunked body became a cut-off one (invalid JSON: 400) instead of a 413.
    """

    def on_exhausted(self) -> None:
        if self._stream.read(1):
            raise RequestEntityTooLarge()

    def readall(self) -> bytes:
        data = super().readall()
        if self.is_exhausted:
            self.on_exhausted()
        return data


class Request(flask.Request):
    """Flask's request, with MAX_CONTENT_LENGTH holding for chunked bodies too."""

    @cached_property
    def stream(self) -> IO[bytes]:
        limit = self.max_content_length
        # Only servers that end the stream themselves (wsgi.input_terminated: gunicorn,
        # werkzeug's) can send a body without a length; werkzeug reads it as empty otherwise.
        if (
            self.content_length is None
            and limit is not None
            and "wsgi.input_terminated" in self.environ
            and not self.shallow
        ):
            return cast(IO[bytes], _BoundedStream(self.environ["wsgi.input"], limit, is_max=True))
        return get_input_stream(self.environ, max_content_length=limit)


def csp_nonce() -> str:
    """A nonce for this response's inline scripts: `<script nonce="{{ csp_nonce() }}">`."""
    nonce: str | None = g.get("csp_nonce")
    if nonce is None:
        nonce = g.csp_nonce = secrets.token_urlsafe(16)
    return nonce


def refuse_nul() -> None:
    """400 for a NUL character in the path or query: no database can take it as text."""
    if "\x00" in request.path or (
        request.query_string and any("\x00" in v for v in request.args.values())
    ):
        abort(400, errors={"detail": "NUL characters are not allowed in URLs"})


_HEADERS_BY_KEY = [(name.lower(), name, value) for name, value in HEADERS.items()]


def security_headers(response: Response) -> Response:
    """Add the security headers to every response (a view may set its own first)."""
    headers = response.headers
    present = {name.lower() for name in headers.keys()}  # one pass, not one each
    for key, name, value in _HEADERS_BY_KEY:
        if key not in present:
            headers.add(name, value)
    if "content-security-policy" not in present:
        # The API's one HTML answer, its interactive page (/api/docs), is a page like the
        # others.
        if is_api_request() and response.mimetype != "text/html":
            policy = API_CSP
        else:
            nonce = g.get("csp_nonce")
            policy = PAGE_CSP.format(nonce=f" 'nonce-{nonce}'" if nonce else "")
        headers.add("Content-Security-Policy", policy)
    # Only over TLS (seen through ProxyFix behind a proxy): over plain HTTP it would be ignored.
    if "strict-transport-security" not in present and request.is_secure:
        headers.add("Strict-Transport-Security", HSTS)
    return response


def init_app(app: Flask) -> None:
    """Apply the production settings, trust the configured proxies, add the headers."""
    if app.config["ATTENDANCE_ENV"] == "production":
        if get_debug_flag():
            raise RuntimeError(
                "FLASK_DEBUG is set: the debugger runs code for anyone who reaches it and "
                "must never run with ATTENDANCE_ENV=production"
            )
        app.debug = False
        app.config.update(
            DEBUG=False,
            PROPAGATE_EXCEPTIONS=False,  # even under TESTING: errors become clean 500s
            TRAP_HTTP_EXCEPTIONS=False,
            SESSION_COOKIE_SECURE=True,
            PREFERRED_URL_SCHEME="https",
        )
    app.request_class = Request
    proxies = int(app.config.get("PROXY_COUNT") or 0)
    if proxies > 0:
        # Flask declares wsgi_app a method; wrapping it is how Flask's docs add middleware.
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies, x_port=proxies
        )
    app.before_request(refuse_nul)
    app.after_request(security_headers)
    app.jinja_env.globals["csp_nonce"] = csp_nonce
