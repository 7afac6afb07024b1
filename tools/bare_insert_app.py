"""The framework's floor: a Flask app that does nothing but the single-row INSERT.

`make bench-ingest` serves it under the same gunicorn settings as the real app and sends
it the same requests: the gap between the two is what the real endpoint's auth,
validation, idempotency and day-version bookkeeping cost. One psycopg connection per
thread, in autocommit: one round trip per request.

    BARE_DATABASE_URL=postgresql://... gunicorn tools.bare_insert_app:app
"""

from __future__ import annotations

import os
import threading
from typing import Any

import psycopg
from flask import Flask, jsonify, request

# The statement pgbench runs too (tools/bench_ingest.py), bar the parameter syntax.
INSERT = (
    "INSERT INTO attendances"
    " (user_id, school_id, type, timestamp, temperature, received_at, idempotency_key)"
    " VALUES (%s, %s, %s, now(), %s, now(), %s) RETURNING id"
)

app = Flask(__name__)
_local = threading.local()


def _connection() -> psycopg.Connection[Any]:
    conn: psycopg.Connection[Any] | None = getattr(_local, "conn", None)
    if conn is None or conn.closed:
        conn = _local.conn = psycopg.connect(os.environ["BARE_DATABASE_URL"], autocommit=True)
    return conn


@app.post("/api/attendances")
def record() -> Any:
    """Insert the event as sent; no checks at all."""
    body = request.get_json()
    key = request.headers.get("Idempotency-Key")
    values = (body["user_id"], body["school_id"], body["type"], body["temperature"], key)
    row = _connection().execute(INSERT, values).fetchone()
    return jsonify({"data": {"id": row[0] if row else None}}), 201
