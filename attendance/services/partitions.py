"""The monthly partitions of `attendances` on PostgreSQL (docs/operations.md#partitions).

`attendances` is partitioned by range of `timestamp`: one partition per UTC month,
`attendances_pYYYY_MM`, and `attendances_default` for any instant no month covers (an
event stamped years ago, or a month nobody created in time). Every read is bounded in
time, so a query reads the months it asks for and no others; the default partition is
the safety net that keeps ingest from ever failing for want of a partition.

A month is added without blocking ingest: the new table is made apart, the default
partition's rows of that month are moved into it, and it is attached, which takes only
a SHARE UPDATE EXCLUSIVE lock on `attendances` (writes and reads of other months go on)
and an exclusive one on the default partition for the moment it takes. `CREATE TABLE
... PARTITION OF` would need an ACCESS EXCLUSIVE lock on `attendances` itself, which
queues every check-in behind the longest report running.

Functions here run on the connection they are given, in its transaction; the caller
(`jobs/partitions.py`) commits. SQLite has one plain table: nothing to do there.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

PARENT = "attendances"
DEFAULT = "attendances_default"
COLUMNS = (
    'id, user_id, school_id, type, "timestamp", temperature, image, received_at, idempotency_key'
)
# pg_advisory_lock's key for adding partitions: one process at a time ("attpart" in hex).
LOCK_KEY = 0x61747470617274
_BOUNDS = re.compile(r"FROM \('([^']+)'\) TO \('([^']+)'\)")


@dataclass(frozen=True, slots=True)
class Partition:
    """One partition: its range of instants (None, None for the default), rows and size."""

    name: str
    start: dt.datetime | None
    end: dt.datetime | None
    rows: int  # PostgreSQL's estimate (exact for the default when detailed)
    size: int | None  # bytes, with its indexes (when detailed)

    @property
    def is_default(self) -> bool:
        return self.start is None and self.end is None


def month_of(instant: dt.datetime | dt.date) -> dt.date:
    """The first day of the (UTC) month of an instant or date."""
    if isinstance(instant, dt.datetime):
        instant = instant.astimezone(dt.UTC)
    return dt.date(instant.year, instant.month, 1)


def add_months(month: dt.date, count: int) -> dt.date:
    """The first day of the month `count` months after `month` (before, when negative)."""
    index = month.year * 12 + month.month - 1 + count
    return dt.date(index // 12, index % 12 + 1, 1)


def name_of(month: dt.date) -> str:
    """The partition of a month: attendances_pYYYY_MM."""
    return f"{PARENT}_p{month:%Y_%m}"


def bounds_of(month: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The month's first instant and the next month's, in UTC."""
    start = dt.datetime.combine(month, dt.time(), dt.UTC)
    return start, dt.datetime.combine(add_months(month, 1), dt.time(), dt.UTC)


def is_partitioned(connection: Connection) -> bool:
    """Whether `attendances` is a partitioned table here (PostgreSQL at 0012 or later)."""
    if connection.dialect.name != "postgresql":
        return False
    kind = connection.exec_driver_sql(
        "SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)", (PARENT,)
    ).scalar()
    return kind == "p"


def partition_names(connection: Connection) -> set[str]:
    """The tables that are partitions of another (of `attendances`, or any an operator
    made): the models describe their parent, so comparing the schema with the models
    (tests/test_migrations.py, `flask db migrate`) leaves them out."""
    if connection.dialect.name != "postgresql":
        return set()
    found = connection.exec_driver_sql(
        "SELECT relname FROM pg_class WHERE relispartition AND relkind IN ('r', 'p')"
        " AND relnamespace = 'public'::regnamespace"
    ).scalars()
    return set(found)


def partitions(connection: Connection, detailed: bool = False) -> list[Partition]:
    """Every partition of `attendances`, the default last; none where it is not partitioned.

    `detailed` (the listing): the default's rows counted, and each partition's size
    measured (a look at each of its files: the periodic step, which needs the ranges
    only, does without).
    """
    if connection.dialect.name != "postgresql":
        return []
    connection.exec_driver_sql("SET LOCAL TimeZone = 'UTC'")  # how the bounds are written
    rows = connection.exec_driver_sql(
        "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid), c.reltuples::bigint,"
        " CASE WHEN %s THEN pg_total_relation_size(c.oid) END"
        " FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = to_regclass(%s) ORDER BY c.relname",
        (detailed, PARENT),
    ).all()
    found = []
    for name, bound, estimate, size in rows:
        start, end = _parse_bounds(bound)
        if start is None and end is None and detailed:
            count = f'SELECT count(*) FROM "{name}"'  # noqa: S608 - a name from the catalog
            estimate = connection.exec_driver_sql(count).scalar()
        found.append(Partition(name, start, end, max(int(estimate), 0), size))
    found.sort(key=lambda p: (p.is_default, p.start or dt.datetime.min.replace(tzinfo=dt.UTC)))
    return found


def _parse_bounds(bound: str) -> tuple[dt.datetime | None, dt.datetime | None]:
    """A range partition's bounds as PostgreSQL writes them (UTC session); MINVALUE and
    MAXVALUE are open ends; DEFAULT is (None, None)."""
    if bound.strip() == "DEFAULT":
        return None, None
    match = _BOUNDS.search(bound)
    low = _instant(match.group(1)) if match else None
    high = _instant(match.group(2)) if match else None
    if "MINVALUE" in bound:
        low = dt.datetime.min.replace(tzinfo=dt.UTC)
    if "MAXVALUE" in bound:
        high = dt.datetime.max.replace(tzinfo=dt.UTC)
    return low, high


def _instant(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def missing_months(existing: list[Partition], first: dt.date, last: dt.date) -> list[dt.date]:
    """The months from `first` to `last` that no partition (but the default) covers any
    part of: those can be added without overlapping one (an operator's own, say)."""
    months = []
    month = first
    while month <= last:
        start, end = bounds_of(month)
        if not any(
            p.start is not None and p.end is not None and p.start < end and start < p.end
            for p in existing
        ):
            months.append(month)
        month = add_months(month, 1)
    return months


def add_month(connection: Connection, month: dt.date, lock_timeout: float) -> int:
    """Add the month's partition, moving the default partition's rows of that month into
    it; returns how many rows moved. One transaction's worth: the caller commits.

    Waits at most `lock_timeout` seconds for each lock, then fails (LockNotAvailable)
    rather than queue the check-ins behind it; the next pass tries again.
    """
    name = name_of(month)
    start, end = bounds_of(month)
    run: Any = connection.exec_driver_sql
    run(f"SET LOCAL lock_timeout = '{int(lock_timeout * 1000)}ms'")
    has_default = run("SELECT to_regclass(%s) IS NOT NULL", (DEFAULT,)).scalar()
    if has_default:
        # First, so that no check-in routed to the default partition can add a row of
        # this month between the move and the attach (which would then fail).
        run(f"LOCK TABLE {DEFAULT} IN ACCESS EXCLUSIVE MODE")
    run(f"CREATE TABLE {name} (LIKE {PARENT} INCLUDING CONSTRAINTS)")
    # The range as a check, so that attaching need not read the table to prove it.
    run(
        f'ALTER TABLE {name} ADD CONSTRAINT {name}_range CHECK ("timestamp" IS NOT NULL'
        f" AND \"timestamp\" >= '{start.isoformat()}' AND \"timestamp\" < '{end.isoformat()}')"
    )
    moved = 0
    if has_default:
        moved = run(
            f'WITH moved AS (DELETE FROM {DEFAULT} WHERE "timestamp" >= %s AND'  # noqa: S608 - constants
            f' "timestamp" < %s RETURNING {COLUMNS}) INSERT INTO {name} ({COLUMNS})'
            f" SELECT {COLUMNS} FROM moved",
            (start, end),
        ).rowcount
    run(
        f"ALTER TABLE {PARENT} ATTACH PARTITION {name}"
        f" FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
    )
    run(f"ALTER TABLE {name} DROP CONSTRAINT {name}_range")
    return int(moved)
