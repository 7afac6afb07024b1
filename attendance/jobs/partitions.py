"""Monthly partitions made ahead of time: the workers' periodic step and the CLI's command.

Each process's reaper thread (and `flask serve`'s thread without Redis) runs
`periodic_step`: at most every PARTITION_CHECK_INTERVAL seconds, `ensure_ahead` adds the
months missing up to PARTITION_MONTHS_AHEAD months after the current one. Each month is a
transaction of its own under a PostgreSQL advisory lock, so one process at a time adds
one (the others skip the rest of their pass), and a month that is already there is left
alone: any number of workers can run it, and running it again changes nothing. Ingest
never waits for it: an event of a month without a partition lands in the default
partition, and adding the month moves it out (services/partitions.py).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import current_app

from .. import clock
from ..extensions import db
from ..services import partitions
from .periodic import Every

log = logging.getLogger(__name__)

# How long a failed pass waits before the next try, at most (the interval, if shorter).
RETRY_AFTER = 60.0


@dataclass
class Ensured:
    """What a pass did: the partitions it added and the rows it moved out of the default."""

    created: list[str] = field(default_factory=list)
    moved: int = 0
    skipped: bool = False  # another process held the lock
    partitioned: bool = True  # False: SQLite, or a schema before 0012


def ensure(
    months_ahead: int,
    first: dt.date | None = None,
    *,
    now: dt.datetime | None = None,
    wait: bool = True,
    lock_timeout: float = 5.0,
) -> Ensured:
    """Add the monthly partitions missing from `first`'s month (default: the current
    one) to `months_ahead` months after the current one. `wait=False` skips the pass
    when another process is adding partitions."""
    this = partitions.month_of(now or clock.now())
    start = partitions.month_of(first) if first is not None else this
    last = partitions.add_months(this, months_ahead)
    result = Ensured()
    lock = "pg_advisory_xact_lock" if wait else "pg_try_advisory_xact_lock"
    with db.engine.connect() as connection:
        if not partitions.is_partitioned(connection):
            connection.rollback()
            result.partitioned = False
            return result
        wanted = partitions.missing_months(partitions.partitions(connection), start, last)
        connection.commit()
        for month in wanted:
            # Each month in a transaction of its own, under a transaction's advisory lock
            # (a session's would not survive PgBouncer's transaction pooling); what was
            # missing is looked at again under the lock: another process may have added it.
            taken = connection.exec_driver_sql(
                f"SELECT {lock}(%s)", (partitions.LOCK_KEY,)
            ).scalar()
            if taken is False:
                connection.rollback()
                result.skipped = True
                break
            existing = partitions.partitions(connection)
            if partitions.missing_months(existing, month, month):
                moved = partitions.add_month(connection, month, lock_timeout)
                result.created.append(partitions.name_of(month))
                result.moved += moved
                log.info(
                    "added partition %s (%d rows moved from the default)",
                    partitions.name_of(month),
                    moved,
                )
            connection.commit()
    return result


def periodic_step(config: Mapping[str, Any]) -> Every[Ensured]:
    """The periodic step of a loop: `ensure_ahead` every PARTITION_CHECK_INTERVAL seconds
    (a failed pass again after RETRY_AFTER)."""
    interval = float(config["PARTITION_CHECK_INTERVAL"])
    return Every(interval, ensure_ahead, retry_after=RETRY_AFTER)


def ensure_ahead() -> Ensured:
    """Add the months missing up to PARTITION_MONTHS_AHEAD ahead, unless another process
    is adding partitions (it will)."""
    return ensure(int(current_app.config["PARTITION_MONTHS_AHEAD"]), wait=False)
