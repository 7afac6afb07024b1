"""The framework's floor: a Flask app that does nothing but store the event.

`make bench-ingest` serves it under the same gunicorn settings as the real app and sends
it the same requests: the gap between the two is what the real endpoint's auth,
validation, enrolment check, idempotency and bookkeeping cost. It stores what the service
stores, unchecked: the event in `attendances` and its key in `attendance_keys` (the
events are partitioned by month, so the key's uniqueness lives in a table of its own),
in one statement. One psycopg connection per thread, in autocommit: one round trip per
request.

    BARE_DATABASE_URL=postgresql://... gunicorn tools.bare_insert_app:app
"""

from __future__ import annotations

import os
import threading
from typing import Any

import psycopg
from flask import Flask, jsonify, request

# The statement pgbench runs too (tools/bench_ingest.py), bar the parameter syntax.
INSERT = """
WITH event AS (
    SELECT nextval('attendances_id_seq') AS id, now() AS at, %s::int AS school_id,
        %s::varchar AS key
), key AS (
    INSERT INTO attendance_keys (school_id, idempotency_key, attendance_id, timestamp)
    SELECT school_id, key, id, at FROM event WHERE key IS NOT NULL
)
INSERT INTO attendances
    (id, user_id, school_id, type, timestamp, temperature, received_at, idempotency_key)
SELECT id, %s, school_id, %s, at, %s, now(), key FROM event RETURNING id
"""

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
    values = (body["school_id"], key, body["user_id"], body["type"], body["temperature"])
    row = _connection().execute(INSERT, values).fetchone()
    return jsonify({"data": {"id": row[0] if row else None}}), 201
