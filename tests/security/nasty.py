"""Hypothesis strategies for the inputs an outside probe crashed the service with.

Lone surrogates, deep nesting, integers of thousands of digits, and dates at the ends of
the calendar written with far UTC offsets (up to ±23:59:59.999999, which Python reads
and PostgreSQL does not). Shared by the property tests and the schemathesis run.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from hypothesis import strategies as st

DAY = dt.timedelta(days=1)
MICROSECOND = dt.timedelta(microseconds=1)

surrogates = st.integers(0xD800, 0xDFFF).map(chr)


def _spliced(parts: tuple[str, str, str]) -> str:
    return parts[0] + parts[1] + parts[2]


# Text with a lone surrogate somewhere (json.dumps writes it as a \ud800 escape).
surrogate_texts = st.tuples(st.text(max_size=4), surrogates, st.text(max_size=4)).map(_spliced)
control_texts = st.tuples(
    st.text(st.characters(codec="utf-8"), min_size=1, max_size=4),
    st.sampled_from(["\x1b[31m", "\x1b]0;pwned\x07", "\x9b2J", "\x00", "\x7f", "\x08", "\r\n"]),
    st.text(st.characters(codec="utf-8"), max_size=4),
).map(_spliced)

# Offsets Python accepts: strictly within a day, to the microsecond.
offsets = st.one_of(
    st.sampled_from(
        [
            dt.timedelta(0),
            dt.timedelta(hours=14),
            -dt.timedelta(hours=14),
            dt.timedelta(hours=23, minutes=59),
            -dt.timedelta(hours=23, minutes=59),
            DAY - MICROSECOND,
            -DAY + MICROSECOND,
            dt.timedelta(hours=5, minutes=30, seconds=15, microseconds=123456),
        ]
    ),
    st.integers(-(86_400 * 10**6 - 1), 86_400 * 10**6 - 1).map(
        lambda us: dt.timedelta(microseconds=us)
    ),
)
# Wall-clock times at the ends of the calendar and at the edges of the service's bounds.
edge_moments = st.one_of(
    st.sampled_from(
        [
            dt.datetime(1, 1, 1),
            dt.datetime(1, 1, 1, 23, 59, 59),
            dt.datetime(9999, 12, 31),
            dt.datetime(9999, 12, 31, 23, 59, 59, 999999),
            dt.datetime(1999, 12, 31, 23, 59, 59),
            dt.datetime(2000, 1, 1),
            dt.datetime(2100, 12, 31, 23, 59, 59),
            dt.datetime(2101, 1, 1),
        ]
    ),
    st.datetimes(),
)
edge_days = st.one_of(
    st.sampled_from(
        [
            dt.date(1, 1, 1),
            dt.date(9999, 12, 31),
            dt.date(9999, 12, 25),
            dt.date(1999, 12, 31),
            dt.date(2000, 1, 1),
            dt.date(2100, 12, 31),
            dt.date(2101, 1, 1),
        ]
    ),
    st.dates(),
)


def stamp(moment: dt.datetime, offset: dt.timedelta) -> str:
    """ISO 8601 with that offset (seconds and microseconds written out when present)."""
    return moment.replace(tzinfo=dt.timezone(offset)).isoformat()


# The probe's own: the ends of the calendar with the offsets that push them past it.
extreme_timestamps = st.sampled_from(
    [
        "0001-01-01T00:00:00+14:00",
        "0001-01-01T00:00:00+23:59:59.999999",
        "0001-01-01T08:00:00Z",
        "9999-12-31T23:59:59-14:00",
        "9999-12-31T23:59:59.999999-23:59",
        "2026-10-05T08:00:00+23:59",
        "2026-10-05T08:00:00+05:30:15.123456",
    ]
)
extreme_dates = st.sampled_from(["0001-01-01", "9999-12-31", "9999-12-25", "1999-12-31"])
edge_timestamps = st.one_of(extreme_timestamps, st.builds(stamp, edge_moments, offsets))
edge_dates = st.one_of(extreme_dates, edge_days.map(dt.date.isoformat))


def nested(depth: int, leaf: Any = 1) -> Any:
    """A value nested `depth` lists deep (built without recursion)."""
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


def nested_json(depth: int) -> str:
    """JSON text of `depth` nested arrays (and objects), without building the value."""
    return (
        '{"a":' * (depth // 2)
        + "[" * (depth - depth // 2)
        + "1"
        + "]" * (depth - depth // 2)
        + "}" * (depth // 2)
    )


def huge_integer(digits: int) -> str:
    """JSON text of an integer of that many digits (past Python's 4,300 for int())."""
    return "9" * digits


# Values that the parsers can take (orjson or the standard library), whatever they hold.
nasty_values: st.SearchStrategy[Any] = st.one_of(
    surrogate_texts,
    control_texts,
    edge_timestamps,
    edge_dates,
    st.integers(min_value=2**63, max_value=10**40),
    st.integers(max_value=-(2**63) - 1, min_value=-(10**40)),
    st.floats(allow_nan=False, allow_infinity=False),  # JSON has neither
    st.integers(2, 60).map(nested),
)


def dumps(value: Any) -> str:
    """JSON text as a client would send it: surrogates escaped, non-ASCII kept."""
    return json.dumps(value)
