"""The real app with required parts switched off, for `tools/ingest_ablation.py` only.

ABLATE names the parts, comma-separated: `log` (the JSON request log line), `metrics`
(the request and attendance counters), `headers` (the security headers), `flask`
(Flask's request pipeline for a check-in's usual case: tools/shortcut_prototype.py).
Never a way to run the service: it measures what those parts cost a check-in under load.

    ABLATE=log,metrics gunicorn -c gunicorn.conf.py tools.ablated_app:app
"""

from __future__ import annotations

import logging
import os

from flask import Flask

from attendance import create_app
from attendance.ops import metrics
from attendance.security import hardening
from attendance.signals import attendances_recorded

PARTS = frozenset({"log", "metrics", "headers", "flask"})


def ablated(parts: frozenset[str]) -> Flask:
    """The app, less `parts`."""
    unknown = parts - PARTS
    if unknown:
        raise SystemExit(f"ABLATE: unknown parts {sorted(unknown)}; known: {sorted(PARTS)}")
    app = create_app()
    if "log" in parts:
        logging.getLogger("attendance.request").disabled = True
    if "metrics" in parts:
        metrics.observe_request = lambda *args, **kwargs: None
        attendances_recorded.disconnect(metrics._attendances_recorded)
    if "headers" in parts:
        app.after_request_funcs[None].remove(hardening.security_headers)
    if "flask" in parts:
        from tools import shortcut_prototype

        shortcut_prototype.install(app)
    return app


app = ablated(frozenset(p for p in os.environ.get("ABLATE", "").split(",") if p))
