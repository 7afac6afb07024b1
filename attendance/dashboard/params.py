"""Query parameters the pages share: the date range, the granularity, sorting, paging."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from ..inputs import FIRST_DAY, LAST_DAY, MAX_RANGE_DAYS, clamp_day
from ..presence import GRANULARITIES

DEFAULT_DAYS = 28


@dataclass(frozen=True)
class Range:
    """A school-local date range, both ends inclusive, and how to bucket it."""

    start: dt.date
    end: dt.date
    granularity: str

    def args(self, **changes: str) -> dict[str, str]:
        """As query arguments (for links), with some changed."""
        values = {
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "granularity": self.granularity,
        }
        return {**values, **changes}

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def _date(value: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        return None


def parse_range(args: Mapping[str, str], today: dt.date) -> tuple[Range, list[str]]:
    """The range the query asks for, or the default (the last four weeks by day), with notes."""
    notes: list[str] = []
    granularity = args.get("granularity") or "day"
    if granularity not in GRANULARITIES:
        notes.append(f"Unknown view {granularity!r}: showing days.")
        granularity = "day"
    end, start = _date(args.get("to")), _date(args.get("from"))
    if args.get("to") and end is None or args.get("from") and start is None:
        notes.append("A date could not be read (use YYYY-MM-DD): the default range is shown.")
    if any(day is not None and clamp_day(day) != day for day in (start, end)):
        notes.append(f"Dates run from {FIRST_DAY} to {LAST_DAY}: the range was moved within them.")
    # Clamped first: the default start, four weeks before the end, must not leave the calendar.
    end = clamp_day(end or today)
    start = clamp_day(start or end - dt.timedelta(days=DEFAULT_DAYS - 1))
    if start > end:
        notes.append("The range started after it ended: the two dates were swapped.")
        start, end = end, start
    if (end - start).days + 1 > MAX_RANGE_DAYS:
        notes.append(f"Ranges are at most {MAX_RANGE_DAYS} days: the range was shortened.")
        start = end - dt.timedelta(days=MAX_RANGE_DAYS - 1)
    return Range(start, end, granularity), notes


def presets(today: dt.date, granularity: str) -> list[tuple[str, Range]]:
    """Ranges an admin often wants, ending today."""
    month_start = today.replace(day=1)
    return [
        ("Today", Range(today, today, "day")),
        ("Last 7 days", Range(today - dt.timedelta(days=6), today, "day")),
        ("Last 4 weeks", Range(today - dt.timedelta(days=27), today, granularity)),
        ("This month", Range(month_start, today, granularity)),
        (
            "Last 12 weeks",
            Range(today - dt.timedelta(weeks=12) + dt.timedelta(days=1), today, "week"),
        ),
    ]


@dataclass(frozen=True)
class Sort:
    """A column to sort by and the direction."""

    key: str
    descending: bool

    def link(self, key: str) -> dict[str, str]:
        """Arguments that sort by `key`: a second click on the same column flips it."""
        flip = key == self.key and not self.descending
        return {"sort": key, "dir": "desc" if flip else "asc"}

    def aria(self, key: str) -> str | None:
        if key != self.key:
            return None
        return "descending" if self.descending else "ascending"


def parse_sort(args: Mapping[str, str], allowed: tuple[str, ...], default: str) -> Sort:
    """The requested sort, falling back to `default` ascending."""
    key = args.get("sort", default)
    if key not in allowed:
        key = default
    return Sort(key, args.get("dir") == "desc")


def parse_page(args: Mapping[str, str]) -> int:
    """The 1-based page number (bad values mean page 1)."""
    try:
        return max(1, min(int(args.get("page", "1")), 1_000_000))
    except ValueError:
        return 1
