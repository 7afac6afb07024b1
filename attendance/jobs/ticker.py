"""The embedded thread without Redis: runs the webhook tick every WEBHOOK_TICK_INTERVAL."""

from __future__ import annotations

import logging
import threading

from flask import Flask

log = logging.getLogger(__name__)


def start_ticker(app: Flask) -> threading.Event:
    """Start the thread (a daemon: it dies with the process); set the returned event to stop it."""
    from .webhooks import tick

    stop = threading.Event()
    interval = float(app.config["WEBHOOK_TICK_INTERVAL"])

    def run() -> None:
        while not stop.wait(interval):
            try:
                with app.app_context():
                    tick()
            except Exception:
                log.exception("webhook tick failed; trying again in %ss", interval)

    threading.Thread(target=run, name="webhook-ticker", daemon=True).start()
    return stop
