"""How a date's per-user results are stored, in chunk rows and in the day cache.

In columns: one JSON array per field, by user id, with the format's number. Compact, and
the final step reads the two columns it needs without building an object per user.
(Rows stored by the first release, one array per user, were rewritten into columns by
migration 0006.)
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from ... import presence

FORMAT = 2
COLUMNS = (
    "user_id",
    "total_us",
    "present",
    "checked_in_now",
    "orphan_checkouts",
    "unclosed",
    "first_checkin_us",
)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_FLAGS = frozenset({"present", "checked_in_now"})


def encode(table: presence.DayTable) -> dict[str, Any]:
    """A date's results as JSON-friendly columns (flags as 0 and 1: shorter than JSON's
    true and false, in the largest values the reports keep)."""
    doc: dict[str, Any] = {"format": FORMAT}
    for name in COLUMNS:
        values = getattr(table, name)
        doc[name] = [int(v) for v in values] if name in _FLAGS else values
    return doc


EMPTY = presence.DayTable([], [], [], [], [], [], [])


def columns(stored: dict[str, Any]) -> dict[str, list[Any]]:
    """The stored results of a date, by column."""
    return {name: stored[name] for name in COLUMNS}


def totals(cols: dict[str, list[Any]]) -> presence.DayTotals:
    """What the final step needs of a date: each user's time and who is checked in now."""
    users = cols["user_id"]
    return presence.DayTotals(
        dict(zip(users, cols["total_us"], strict=True)),
        frozenset(u for u, now in zip(users, cols["checked_in_now"], strict=True) if now),
    )


def decode(day: dt.date, cols: dict[str, list[Any]]) -> dict[int, presence.DayResult]:
    """A date's stored results back to day results (without the session list, which
    reports do not keep)."""
    return {
        user_id: presence.DayResult(
            user_id=user_id,
            day=day,
            total=dt.timedelta(microseconds=total_us),
            present=bool(present),
            checked_in_now=bool(in_now),
            orphan_checkouts=orphans,
            unclosed=unclosed,
            sessions=(),
            first_checkin=None if first is None else _EPOCH + dt.timedelta(microseconds=first),
        )
        for user_id, total_us, present, in_now, orphans, unclosed, first in zip(
            *(cols[name] for name in COLUMNS), strict=True
        )
    }
