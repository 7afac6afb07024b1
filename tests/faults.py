"""Faults for the report pipeline's tests: a date whose chunk fails, chunks that take a while.

The pipeline has no fault switches. It has one seam, `steps.chunk_started`, called by the
chunk job once the chunk's lease is committed and before it computes; these faults
replace it.

- In the test's process: `install(monkeypatch, fail_days=[...], chunk_sleep=...)`.
- In a worker process: start it as `python -m tests.faults worker ...` (the `spawn`
  fixture's `module="tests.faults"`) with the faults as JSON in TEST_REPORT_FAULTS
  (`faults_env(...)`). This module installs them and runs the `flask --app attendance`
  command line; production starts `flask` itself and never imports anything of tests/.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

import pytest

from attendance.services.reports import steps

ENV = "TEST_REPORT_FAULTS"


def chunk_started(
    fail_days: Iterable[str | dt.date] = (), chunk_sleep: float = 0.0
) -> Callable[[str, dt.date], None]:
    """A `steps.chunk_started` that sleeps `chunk_sleep` seconds (widening the window in
    which a worker can die), then fails the dates of `fail_days`."""
    failing = frozenset(str(d) for d in fail_days)

    def started(report_id: str, day: dt.date) -> None:
        if chunk_sleep:
            time.sleep(chunk_sleep)
        if str(day) in failing:
            raise RuntimeError(f"injected fault on {day}")

    return started


def install(monkeypatch: pytest.MonkeyPatch, **faults: Any) -> None:
    """Inject the faults in this process until the test ends."""
    monkeypatch.setattr(steps, "chunk_started", chunk_started(**faults))


def faults_env(**faults: Any) -> dict[str, str]:
    """The environment that gives a `python -m tests.faults` process these faults."""
    return {ENV: json.dumps({k: list(v) if k == "fail_days" else v for k, v in faults.items()})}


def main() -> None:
    """`flask --app attendance <args>`, with the faults of TEST_REPORT_FAULTS installed."""
    from flask.cli import main as flask_main

    faults = json.loads(os.environ.get(ENV) or "{}")
    steps.chunk_started = chunk_started(**faults)  # type: ignore[assignment]
    sys.argv = ["flask", "--app", "attendance", *sys.argv[1:]]
    flask_main()


if __name__ == "__main__":
    main()
