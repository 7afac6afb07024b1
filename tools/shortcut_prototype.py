"""A PROTOTYPE, for measuring only: a check-in's usual case answered outside Flask.

`make bench-ingest-ablation` serves it as "outside Flask" (`ABLATE=flask`,
tools/ablated_app.py) to measure what leaving Flask's request pipeline for
`POST /api/attendances` would buy, with the request log, the metrics and the security
headers still on. Never a way to run the service: it is not complete, and it is not
tested as the service is.

The usual case only: a plain JSON body the route's schema takes, from a token this
process has cached under the current version, for a school it may act for, with a valid
Idempotency-Key or none, and no query string. It is answered here with the route's own
pieces (the schema's fields, `record_attendance`, the answer's schema, the log line and
metrics of `ops.web.answered`, the API's security headers). Anything else goes to Flask, the
body replayed. What a real implementation would still need (docs/performance.md, "What
is left"): the write counted once when Flask then answers (here it is counted twice),
HSTS behind a TLS proxy (ProxyFix wraps outside this), and an error after the
statement answered by Flask's handlers without running the statement again.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask

from attendance import clock
from attendance.api.attendances import PRINTABLE_ASCII, _attendance_schema
from attendance.api.schemas import AttendanceInSchema
from attendance.extensions import db, in_transaction
from attendance.jobs.webhooks import fevers_recorded
from attendance.ops import context, web
from attendance.schemas.loader import BodyLoader
from attendance.security import tokens
from attendance.security.hardening import API_CSP, HEADERS
from attendance.security.roles import DEVICE, DISTRICT, SCHOOL
from attendance.services import attendances as service

PATH = "/api/attendances"
ROLES = frozenset({DEVICE, SCHOOL, DISTRICT})
STATUS = {201: "201 CREATED", 200: "200 OK"}
MAX_BODY = 1 << 20
Wsgi = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def install(app: Flask) -> None:
    """Put the shortcut in front of the app's WSGI callable."""
    flask_wsgi: Wsgi = app.wsgi_app
    gate = app.extensions["attendance_gate"]
    loader = BodyLoader(AttendanceInSchema())
    security = [*HEADERS.items(), ("Content-Security-Policy", API_CSP)]

    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if (
            environ["PATH_INFO"] != PATH
            or environ["REQUEST_METHOD"] != "POST"
            or environ.get("QUERY_STRING")
            or environ.get("CONTENT_TYPE") != "application/json"
        ):
            return flask_wsgi(environ, start_response)
        started = time.perf_counter()
        length = environ.get("CONTENT_LENGTH") or ""
        if not length.isdigit() or not 0 < int(length) <= MAX_BODY:
            return flask_wsgi(environ, start_response)
        body = environ["wsgi.input"].read(int(length))
        environ["wsgi.input"] = io.BytesIO(body)

        def to_flask() -> Iterable[bytes]:
            environ["wsgi.input"].seek(0)
            return flask_wsgi(environ, start_response)

        scheme, _, token = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not tokens.well_formed(token):
            return to_flask()
        known = gate.known(tokens.hash_token(token))
        if known is None or known.principal.role not in ROLES:
            return to_flask()
        try:
            data = loader.quick(app.json.loads(body))
        except ValueError:
            return to_flask()
        if data is None or not known.principal.sees(data["school_id"]):
            return to_flask()
        key = environ.get("HTTP_IDEMPOTENCY_KEY") or None
        if key is not None and (len(key) > 200 or not PRINTABLE_ASCII.fullmatch(key)):
            return to_flask()
        if tokens.due(known.last_used_at, clock.now()):
            return to_flask()  # Flask records the token's use
        checked = gate.check(f"token:{known.principal.token_id}")
        if checked.version != known.version or gate.over_limit(checked):
            return to_flask()
        rid = context.accept_request_id(environ.get("HTTP_X_REQUEST_ID"))
        reset = context.request_id.set(rid)
        try:
            with app.app_context():
                event, created = service.record_attendance(data, key)
                if in_transaction():
                    db.session.commit()
                if created and event.fever:
                    fevers_recorded([(event.id, event.timestamp)], [event.school_id])
                payload = app.json.dumps(
                    {"data": _attendance_schema.dump(event)}, separators=(",", ":")
                ).encode()
            status = 201 if created else 200
            start_response(
                STATUS[status],
                [
                    ("Content-Type", "application/json"),
                    ("Content-Length", str(len(payload))),
                    ("Location", f"{PATH}/{event.id}"),
                    (context.REQUEST_ID_HEADER, rid),
                    *security,
                ],
            )
            seconds = time.perf_counter() - started
            web.answered(environ, "POST", PATH, PATH, status, seconds, rid)
            return [payload]
        finally:
            context.request_id.reset(reset)

    app.wsgi_app = wsgi  # type: ignore[method-assign]
