"""Column types and the column default for instants the models share; imports nothing of
the package but the clock."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, DateTime, Integer
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from . import clock

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")

# The largest ids the columns hold: INTEGER for most, BIGINT (BigId) for attendances. A
# larger id reached the database and failed there (a 500) instead of being simply not found.
MAX_ID = 2**31 - 1
MAX_BIG_ID = 2**63 - 1


def one_of(column: str, values: Iterable[str], name: str) -> CheckConstraint:
    """A check that `column` holds one of `values` (the constants the code knows)."""
    return CheckConstraint(f"{column} IN ({', '.join(repr(v) for v in values)})", name=name)


def now_default() -> dt.datetime:
    """The column default for instants: `clock.now`, looked up at each insert or update,
    so that a test's patched clock applies to the rows it makes too."""
    return clock.now()


class UTCDateTime(TypeDecorator[dt.datetime]):
    """An aware instant stored in UTC; SQLite keeps no offset, so we normalise both ways."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given for a UTC column")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        if value.tzinfo is dt.UTC:
            return value
        return value.astimezone(dt.UTC)
