"""Around each report job: its context for the logs, one log line, and its metrics.

The RQ worker (`AttendanceWorker.perform_job`) and the in-process dispatcher both run
their jobs inside `job_scope`, so a job logs the same way wherever it runs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from . import context, metrics

log = logging.getLogger("attendance.job")


@dataclass
class JobOutcome:
    """Set `ok` inside the scope when the runner reports failure without raising (RQ)."""

    ok: bool = True


@contextmanager
def job_scope(
    function: str, job_id: str, args: Sequence[Any], meta: dict[str, Any] | None
) -> Iterator[JobOutcome]:
    """Run a job with its ids in the log context; log and count it when it ends."""
    name = function.rsplit(".", 1)[-1]
    fields: dict[str, Any] = {"job_id": job_id, "function": name}
    if args and isinstance(args[0], str):
        fields["report_id"] = args[0]  # every report job takes the report id first
    request_token = context.request_id.set((meta or {}).get("request_id"))
    job_token = context.job.set(fields)
    outcome = JobOutcome()
    started = time.perf_counter()
    try:
        yield outcome
    except BaseException:
        outcome.ok = False
        raise
    finally:
        seconds = time.perf_counter() - started
        metrics.observe_job(name, outcome.ok, seconds)
        log.log(
            logging.INFO if outcome.ok else logging.WARNING,
            "job %s %s",
            name,
            "ok" if outcome.ok else "failed",
            extra={
                "event": "job",
                "status": "ok" if outcome.ok else "failed",
                "duration_ms": round(seconds * 1000, 2),
            },
        )
        context.job.reset(job_token)
        context.request_id.reset(request_token)
