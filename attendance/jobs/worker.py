"""The RQ worker: runs jobs inside the app, and a reaper thread that recovers lost work."""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import Callable
from typing import Any

from flask import Flask
from rq import SimpleWorker

log = logging.getLogger(__name__)


class AttendanceWorker(SimpleWorker):
    """An RQ worker bound to a Flask app.

    It runs jobs in its own process (no fork per job: report chunks are short, and a
    fork per job would cost more than the chunk). SIGTERM or SIGINT is RQ's warm shutdown:
    the running job finishes, then the worker quits (a second signal is a cold shutdown).
    Killing it with SIGKILL loses the running chunk's process; the chunk's lease in the
    database then expires and any worker's reaper queues it again.
    """

    def __init__(self, *args: Any, app: Flask, reaper_interval: float = 5.0, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.app = app
        self.reaper_interval = reaper_interval
        self._stop_reaper = threading.Event()

    def work(self, *args: Any, **kwargs: Any) -> bool:
        # What is loaded by now (the app, SQLAlchemy, RQ) lives as long as the process:
        # keep it out of the collector's full passes, which otherwise stall a chunk for
        # tens of milliseconds each time they walk it.
        gc.collect()
        gc.freeze()
        reaper = threading.Thread(target=self._reap_forever, name="reaper", daemon=True)
        reaper.start()
        try:
            with self.app.app_context():
                return bool(super().work(*args, **kwargs))
        finally:
            self._stop_reaper.set()
            reaper.join(timeout=self.reaper_interval + 5)

    def perform_job(self, job: Any, queue: Any) -> bool:
        from ..ops.jobscope import job_scope

        with job_scope(job.func_name, job.id, job.args, job.meta) as outcome:
            outcome.ok = bool(super().perform_job(job, queue))
        return outcome.ok

    def _reap_forever(self) -> None:
        from ..services.overview import refresh_if_due
        from . import partitions
        from .reports import reap
        from .webhooks import periodic_steps

        steps: list[Callable[[], Any]] = [
            reap,
            *periodic_steps(),
            refresh_if_due,
            partitions.periodic_step(self.app.config),
        ]
        while not self._stop_reaper.wait(self.reaper_interval):
            # Each pass on its own: a failing one must not stop the others.
            for step in steps:
                try:
                    with self.app.app_context():
                        step()
                except Exception:
                    log.exception(
                        "%s pass failed; trying again in %ss", step.__name__, self.reaper_interval
                    )
