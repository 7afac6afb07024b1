"""What the service takes as input, whatever the door (API, dashboard, CLI).

One home for the date bounds and for the rules on stored text, as pure functions: each
raises `InputError` (a ValueError) with the message the caller shows next to the field.
"""

from __future__ import annotations

import datetime as dt
import re

# Every date the service takes (events, closures, report ranges, filters) lies in these
# years. Past them the calendar arithmetic of a report, or a timestamp with a far UTC
# offset, leaves what Python and PostgreSQL can represent (it was a 500, or a report
# that never finished); nothing a school records lies outside them.
FIRST_DAY = dt.date(2000, 1, 1)
LAST_DAY = dt.date(2100, 12, 31)
FIRST_INSTANT = dt.datetime.combine(FIRST_DAY, dt.time(), dt.UTC)
LAST_INSTANT = dt.datetime.combine(LAST_DAY, dt.time.max, dt.UTC)
BOUNDS = f"years {FIRST_DAY.year} to {LAST_DAY.year}"
DAY_BOUNDS = f"must be a date from {FIRST_DAY} to {LAST_DAY}"
INSTANT_BOUNDS = f"must be from {FIRST_DAY}T00:00:00Z to {LAST_DAY}T23:59:59Z"

# The longest range of dates a report or a listing covers, both ends counted.
MAX_RANGE_DAYS = 366

# An event may be stamped at most this far ahead of its arrival (device clocks drift).
MAX_FUTURE = dt.timedelta(minutes=5)

NO_CONTROL = "must not contain control characters"
# Unicode's control characters (category Cc): C0, DEL and C1.
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
NO_NUL = "must not contain NUL characters"
NO_SURROGATE = "must be valid Unicode (no lone surrogates)"


class InputError(ValueError):
    """A value the service does not take; its message names what is wrong."""


def check_day(day: dt.date) -> dt.date:
    """The date, if within the bounds."""
    if not FIRST_DAY <= day <= LAST_DAY:
        raise InputError(DAY_BOUNDS)
    return day


def check_instant(value: dt.datetime) -> dt.datetime:
    """An aware instant within the bounds, converted to UTC.

    Any offset Python reads (up to ±23:59:59.999999) is taken; PostgreSQL takes only up
    to ±15:59 and no fractional seconds, so what is stored is always UTC.
    """
    try:
        utc = value.astimezone(dt.UTC)
    except OverflowError:  # year 1 east of UTC, year 9999 west of it
        raise InputError(INSTANT_BOUNDS) from None
    if not FIRST_INSTANT <= utc <= LAST_INSTANT:
        raise InputError(INSTANT_BOUNDS)
    return utc


def clamp_day(day: dt.date) -> dt.date:
    """The nearest date within the bounds."""
    return min(max(day, FIRST_DAY), LAST_DAY)


def check_text(value: str) -> str:
    """Text PostgreSQL can store: no NUL character, no lone surrogate (either was a 500)."""
    if "\x00" in value:
        raise InputError(NO_NUL)
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InputError(NO_SURROGATE) from None
    return value


def clean_name(value: str) -> str:
    """A name as stored: surrounding whitespace stripped, no control characters inside.

    Control characters (C0, DEL, C1) include ANSI terminal escapes (ESC and CSI), which
    would recolour or rewrite a terminal that prints the name. Format characters such as
    the zero-width joiner stay: names in several scripts need them.
    """
    value = check_text(value).strip()
    if CONTROL.search(value):
        raise InputError(NO_CONTROL)
    return value
