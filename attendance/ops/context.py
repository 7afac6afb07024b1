"""What ties log lines together: the request id, and the job a worker is running.

Context variables, so a value set for a request or a job is seen by every log line and
every job enqueued while it lasts, and by nothing else.
"""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar
from typing import Any

REQUEST_ID_HEADER = "X-Request-ID"
# A client's id is kept only when it is short and plain, so it is safe to log and echo.
_SAFE_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")

request_id: ContextVar[str | None] = ContextVar("attendance_request_id", default=None)
job: ContextVar[dict[str, Any] | None] = ContextVar("attendance_job", default=None)


def accept_request_id(value: str | None) -> str:
    """The client's request id when it is safe, else a new one."""
    if value and _SAFE_ID.fullmatch(value):
        return value
    return uuid.uuid4().hex


def job_meta(meta: dict[str, Any] | None) -> dict[str, Any]:
    """A job's RQ meta with the current request id added (a job enqueued by a job keeps it)."""
    merged = dict(meta or {})
    current = request_id.get()
    if current and "request_id" not in merged:
        merged["request_id"] = current
    return merged


def log_fields() -> dict[str, Any]:
    """The context's fields for a log line."""
    fields: dict[str, Any] = {}
    rid = request_id.get()
    if rid:
        fields["request_id"] = rid
    running = job.get()
    if running:
        fields.update(running)
    return fields
