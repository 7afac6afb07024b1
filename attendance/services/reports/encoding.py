"""How a date's per-user results are stored, in chunk rows and in the day cache.

In columns: one JSON array per field, by user id, with the format's number. Compact, and
the final step reads the columns it needs without building an object per user. A date's
users are those with events and those enrolled on it; the columns hold the date's
pairing (time, who is checked in now, data quality, first check-in, sessions closed at
day_end) and its facts (presence.DayFacts: enrolled, present with marks, excused, late).

FORMAT is part of the day cache's key and of a report's fingerprint: a row of another
format is never read as this one, it is computed again (format 2, before school life,
held the pairing only; format 1 rows were rewritten into columns by migration 0006).
"""

from __future__ import annotations

import datetime as dt
from itertools import compress
from typing import Any

from ... import presence

FORMAT = 3
COLUMNS = (
    "user_id",
    "total_us",
    "present",
    "checked_in_now",
    "orphan_checkouts",
    "unclosed",
    "first_checkin_us",
    "auto_closed",
    "enrolled",
    "excused",
    "late",
)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_NO_PAIRING = presence.DayTable([], [], [], [], [], [], [], [])


def encode(facts: presence.DayFacts, table: presence.DayTable | None) -> dict[str, Any]:
    """A date's pairing (None: no events) and facts as JSON-friendly columns (flags as 0
    and 1: shorter than JSON's true and false, in the largest values the reports keep);
    `late` is null when the school has no late_after."""
    table = table or _NO_PAIRING
    paired = {u: i for i, u in enumerate(table.user_id)}
    users = sorted(paired.keys() | facts.enrolled)
    auto = table.auto_closed or [0] * len(table.user_id)

    def column(values: list[Any], default: Any) -> list[Any]:
        return [values[paired[u]] if u in paired else default for u in users]

    def flags(members: frozenset[int]) -> list[int]:
        return [int(u in members) for u in users]

    return {
        "format": FORMAT,
        "user_id": users,
        "total_us": column(table.total_us, 0),
        "present": flags(facts.present),
        "checked_in_now": [int(v) for v in column(table.checked_in_now, False)],
        "orphan_checkouts": column(table.orphan_checkouts, 0),
        "unclosed": column(table.unclosed, 0),
        "first_checkin_us": column(table.first_checkin_us, None),
        "auto_closed": [int(bool(v)) for v in column(auto, 0)],
        "enrolled": flags(facts.enrolled),
        "excused": flags(facts.excused),
        "late": None if facts.late is None else flags(facts.late),
    }


def is_current(stored: Any) -> bool:
    """The stored results are of this format (others are computed again)."""
    return isinstance(stored, dict) and stored.get("format") == FORMAT


def columns(stored: dict[str, Any]) -> dict[str, list[Any]]:
    """The stored results of a date, by column."""
    return {name: stored[name] for name in COLUMNS}


def _members(users: list[int], flags: list[int]) -> frozenset[int]:
    """The users whose flag is set (compress: a year's final step reads a million flags)."""
    if len(users) != len(flags):
        raise ValueError(f"{len(flags)} flags for {len(users)} users")
    return frozenset(compress(users, flags))


def facts(day: dt.date, cols: dict[str, list[Any]]) -> presence.DayFacts:
    """What the final step needs of a date: its facts (presence.DayFacts)."""
    users = cols["user_id"]
    late = cols["late"]
    return presence.DayFacts(
        day=day,
        enrolled=_members(users, cols["enrolled"]),
        present=_members(users, cols["present"]),
        excused=_members(users, cols["excused"]),
        late=None if late is None else _members(users, late),
        total_us=dict(zip(users, cols["total_us"], strict=True)),
        checked_in_now=_members(users, cols["checked_in_now"]),
        auto_closed=_members(users, cols["auto_closed"]),
    )


def decode(day: dt.date, cols: dict[str, list[Any]]) -> dict[int, presence.DayResult]:
    """A date's stored results back to day results (without the session list, which
    reports do not keep), for the users with events; `present` includes marks."""
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
            auto_closed=auto,
        )
        for user_id, total_us, present, in_now, orphans, unclosed, first, auto, enrolled in zip(
            *(cols[name] for name in COLUMNS[:9]), strict=True
        )
        if total_us or first is not None or orphans or unclosed or in_now or not enrolled
    }
