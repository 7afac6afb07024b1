"""The embedded thread without Redis: runs the webhook steps (the tick, the fever sweep)
every WEBHOOK_TICK_INTERVAL, and the partitions' periodic step when it is due, as a
worker's reaper does."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Flask

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Ticker:
    """The running thread, and how to stop it."""

    thread: threading.Thread
    stopping: threading.Event

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the tick in progress, waiting for it at most `timeout` seconds."""
        self.stopping.set()
        self.thread.join(timeout)


def start_ticker(app: Flask) -> Ticker:
    """Start the thread (a daemon: it also dies with the process)."""
    from . import partitions
    from .webhooks import periodic_steps

    stopping = threading.Event()
    interval = float(app.config["WEBHOOK_TICK_INTERVAL"])
    steps: list[Callable[[], Any]] = [*periodic_steps(), partitions.periodic_step(app.config)]

    def run() -> None:
        while not stopping.wait(interval):
            for step in steps:  # each on its own: a failing one must not stop the others
                try:
                    with app.app_context():
                        step()
                except Exception:
                    log.exception("%s failed; trying again in %ss", step.__name__, interval)

    thread = threading.Thread(target=run, name="webhook-ticker", daemon=True)
    thread.start()
    return Ticker(thread, stopping)
