"""The wall clock, in one place: every module that asks what time it is asks `now()`.

Tests that need another time patch this one function (`monkeypatch.setattr(clock, "now",
...)`), so callers look it up at call time: `from . import clock`, then `clock.now()`.
"""

from __future__ import annotations

import datetime as dt


def now() -> dt.datetime:
    """The current instant, aware, in UTC."""
    return dt.datetime.now(dt.UTC)
