"""Without Redis, `flask serve`'s thread runs the tick: days close and deliveries go out."""

from __future__ import annotations

import time

from sqlalchemy import select

from attendance.jobs.ticker import start_ticker
from attendance.webhook_models import DayClose


def test_the_embedded_thread_closes_days(app, db, make_school, subscribe, monkeypatch):
    school = make_school(school_days=[1, 2, 3, 4, 5, 6, 7])
    subscribe("http://127.0.0.1:9/x", ["school.day_closed"], school.id)
    monkeypatch.setitem(app.config, "WEBHOOK_TICK_INTERVAL", 0.05)
    ticker = start_ticker(app)
    try:
        deadline = time.monotonic() + 60
        found = []
        while not found and time.monotonic() < deadline:
            db.session.rollback()
            found = db.session.scalars(select(DayClose).where(DayClose.status == "done")).all()
            time.sleep(0.05)
    finally:
        ticker.stop()
    assert [c.school_id for c in found] == [school.id]
