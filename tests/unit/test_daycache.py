"""When a change to a day needs no version bump: the day is open, with a margin."""

from __future__ import annotations

import datetime as dt

import pytest

from attendance.presence import local_date
from attendance.services.daycache import OPEN_MARGIN, still_open

HCM = "Asia/Ho_Chi_Minh"  # UTC+7, no daylight saving


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def test_local_day_follows_the_school_timezone():
    assert local_date(at("2026-11-02T23:30:00+00:00"), HCM) == dt.date(2026, 11, 3)
    assert local_date(at("2026-11-03T02:00:00+00:00"), "America/New_York") == dt.date(2026, 11, 2)


@pytest.mark.parametrize(
    ("day", "now", "open_"),
    [
        ("2026-11-03", "2026-11-03T01:00:00+00:00", True),  # 08:00 local, same day
        ("2026-11-04", "2026-11-03T16:55:00+00:00", True),  # tomorrow (a device clock ahead)
        ("2026-11-03", "2026-11-03T16:45:00+00:00", True),  # 23:45 local: 15 min left
        ("2026-11-03", "2026-11-03T16:51:00+00:00", False),  # 23:51 local: inside the margin
        ("2026-11-03", "2026-11-03T17:00:00+00:00", False),  # the next day has begun
        ("2026-11-02", "2026-11-03T01:00:00+00:00", False),  # yesterday: may be cached
    ],
)
def test_still_open(day, now, open_):
    assert OPEN_MARGIN == dt.timedelta(minutes=10)
    assert still_open(HCM, dt.date.fromisoformat(day), at(now)) is open_
