"""The district overview's figures: every school's today, as of one instant.

Computed in one set-based pass (`district.today_of_every_school`, decided by presence) and,
with Redis, kept as a snapshot that the workers refresh in the background
(`refresh_if_due`, from their reaper thread) so that no page load waits for the pass:
a page shows the snapshot while it is at most OVERVIEW_MAX_AGE seconds old (60 at most),
with the instant it is as of. Without Redis, or without a fresh snapshot, the page
computes the figures itself.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import select

from .. import clock, presence
from ..extensions import db
from ..models import School
from . import district

log = logging.getLogger(__name__)
KEY = "attendance:overview"
LOCK = "attendance:overview:refreshing"
LONGEST_AGE = 60  # seconds: the most a page may show (docs/dashboard.md)


@dataclass(frozen=True)
class SchoolToday:
    """One school's figures of its local today (a one-day report's, as of the instant)."""

    enrolled: int
    in_school: int
    present: int
    absent: int
    school_day: bool
    fever_alerts: int


@dataclass(frozen=True)
class Snapshot:
    """Every school's today as of one instant."""

    as_of: dt.datetime
    schools: dict[int, SchoolToday]

    def to_json(self) -> str:
        return json.dumps(
            {
                "as_of": self.as_of.isoformat(),
                "schools": {str(k): dataclasses.asdict(v) for k, v in self.schools.items()},
            }
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> Snapshot:
        data = json.loads(text)
        return cls(
            dt.datetime.fromisoformat(data["as_of"]),
            {int(k): SchoolToday(**v) for k, v in data["schools"].items()},
        )


def compute(now: dt.datetime) -> Snapshot:
    """Every school's today as of now, in one pass."""
    decided, fevers = district.today_of_every_school(now)
    schools = {}
    for d in decided:
        enrolled, present = len(d.facts.enrolled), len(d.facts.present)
        schools[d.school.id] = SchoolToday(
            enrolled=enrolled,
            in_school=len(d.facts.checked_in_now & d.facts.enrolled),
            present=present,
            absent=enrolled - present,
            school_day=presence.is_school_day(d.day, d.rules),
            fever_alerts=fevers.get(d.school.id, 0),
        )
    return Snapshot(now, schools)


def _redis() -> Any:
    """The app's Redis connection (the job queue's), or None without REDIS_URL."""
    if not current_app.config.get("REDIS_URL"):
        return None
    from ..jobs.queue import RQDispatcher, dispatcher

    queue = dispatcher()
    return queue.connection if isinstance(queue, RQDispatcher) else None


def _max_age() -> dt.timedelta:
    return dt.timedelta(seconds=min(float(current_app.config["OVERVIEW_MAX_AGE"]), LONGEST_AGE))


def load() -> Snapshot | None:
    """The stored snapshot (None without Redis, without one, or when Redis fails)."""
    from redis.exceptions import RedisError

    connection = _redis()
    if connection is None:
        return None
    try:
        text = connection.get(KEY)
    except RedisError:
        log.warning("overview: cannot read the snapshot", exc_info=True)
        return None
    return None if text is None else Snapshot.from_json(text)


def save(snapshot: Snapshot) -> None:
    """Store the snapshot (kept no longer than a page may show it)."""
    from redis.exceptions import RedisError

    connection = _redis()
    if connection is None:
        return
    try:
        connection.set(KEY, snapshot.to_json(), ex=LONGEST_AGE + 10)
    except RedisError:
        log.warning("overview: cannot store the snapshot", exc_info=True)


def current() -> Snapshot:
    """What the overview shows: the stored snapshot while it is fresh enough and has every
    school, else the figures computed now (and stored for the next page)."""
    snapshot = load()
    ids = set(db.session.scalars(select(School.id)))
    if (
        snapshot is not None
        and clock.now() - snapshot.as_of <= _max_age()
        and set(snapshot.schools) == ids
    ):
        return snapshot
    from .reports.requesting import now_for_report

    snapshot = compute(now_for_report())
    save(snapshot)
    return snapshot


def refresh_if_due() -> bool:
    """Compute and store a new snapshot when the stored one is older than
    OVERVIEW_REFRESH seconds (0: never); one worker at a time (a lock in Redis). Run by
    every worker's reaper thread, so that pages find a fresh snapshot."""
    refresh = float(current_app.config["OVERVIEW_REFRESH"])
    connection = _redis()
    if connection is None or refresh <= 0:
        return False
    snapshot = load()
    if snapshot is not None and clock.now() - snapshot.as_of < dt.timedelta(seconds=refresh):
        return False
    if not connection.set(LOCK, "1", nx=True, ex=LONGEST_AGE):
        return False
    try:
        from .reports.requesting import now_for_report

        save(compute(now_for_report()))
        return True
    finally:
        connection.delete(LOCK)
        db.session.remove()
