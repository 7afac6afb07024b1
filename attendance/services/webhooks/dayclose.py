"""Closing a school's day: once per school and date, whatever the number of workers.

A date closes at the school's `day_end`, or at local midnight when it has none. Every
worker's tick (and the embedded thread without Redis) calls `claim_due`, which inserts
one row per school and date to close (INSERT ... ON CONFLICT DO NOTHING: the unique
(school, date) row is the claim), catching up dates missed while no worker ran (at most
WEBHOOK_CATCHUP_DAYS). `runnable` hands each pending row to one job at a time (SELECT ...
FOR UPDATE SKIP LOCKED and a lease); the job (`jobs.webhooks.close_day`) asks the report
pipeline for the figures and, once they are finished, records the events and marks the
row done in one transaction. Only schools that someone subscribed to are closed.

The events come from two reports with `users=true`, never from a second implementation
of the rules: the school year to the date (`year_start` to D, by day) and the same year
to the day before. A pupil's `absence_streak` event fires when their streak, on a date
counted for them, equals `alert_streak_days`; `pupil.chronic` when they are chronic over
the year to D and were not to D - 1; `school.day_closed` carries D's bucket.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import func, or_, select, update

from ... import clock, presence
from ...extensions import db
from ...models import REPORT_FAILED, REPORT_FINISHED, Report, School
from ...webhook_models import (
    ABSENCE_STREAK,
    CHRONIC,
    CLOSE_DONE,
    CLOSE_PENDING,
    DAY_CLOSED,
    DAY_EVENTS,
    DayClose,
    Webhook,
)
from ..reports import requesting, rules_for, settings_from
from . import Settings
from .events import Event

LEASE = dt.timedelta(seconds=120)  # a close job holds its row this long at most
WAIT = dt.timedelta(seconds=2)  # between two looks at reports being computed


def close_instant(school: School, day: dt.date) -> dt.datetime:
    """When `day` closes at the school: its day_end, or the next local midnight."""
    zone = ZoneInfo(school.timezone)
    if school.day_end is not None:
        local = dt.datetime.combine(day, school.day_end, zone)
    else:
        local = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), zone)
    return local.astimezone(dt.UTC)


def last_closed(school: School, now: dt.datetime) -> dt.date:
    """The latest date of the school that has closed by `now`."""
    today = presence.local_today(now, school.timezone)
    return today if close_instant(school, today) <= now else today - dt.timedelta(days=1)


def year_start(school: School, day: dt.date) -> dt.date:
    """The start of the school year that `day` is in."""
    month, mday = int(school.year_start[:2]), int(school.year_start[3:])
    start = dt.date(day.year, month, mday)
    return start if start <= day else dt.date(day.year - 1, month, mday)


def subscribed_schools() -> list[School]:
    """The schools an enabled subscription wants day events of (every one for a district-wide)."""
    rows = db.session.execute(
        select(Webhook.school_id, Webhook.event_types).where(Webhook.disabled_at.is_(None))
    )
    wanted = {s for s, types in rows if set(types) & set(DAY_EVENTS)}
    if not wanted:
        return []
    query = select(School).order_by(School.id)
    if None not in wanted:
        query = query.where(School.id.in_([s for s in wanted if s is not None]))
    return list(db.session.scalars(query))


def claim_due(now: dt.datetime, settings: Settings) -> int:
    """Insert the rows of the dates that have closed and have none yet; how many.

    Every worker runs this every few seconds: one query finds each school's latest row,
    and only schools with a date to close insert (the unique row is the claim).
    """
    schools = subscribed_schools()
    if not schools:
        return 0
    latest = dict(
        db.session.execute(
            select(DayClose.school_id, func.max(DayClose.date))
            .where(DayClose.school_id.in_([s.id for s in schools]))
            .group_by(DayClose.school_id)
        ).all()
    )
    rows = []
    for school in schools:
        last = last_closed(school, now)
        done = latest.get(school.id)
        if done is not None and done >= last:
            continue
        first = last if done is None else done + dt.timedelta(days=1)
        first = max(first, last - dt.timedelta(days=settings.catchup_days - 1))
        rows += [
            {
                "school_id": school.id,
                "date": first + dt.timedelta(days=n),
                "status": CLOSE_PENDING,
                "attempts": 0,
                "created_at": now,
            }
            for n in range((last - first).days + 1)
        ]
    claimed = _insert_new(rows) if rows else 0
    db.session.flush()
    return claimed


def _insert_new(rows: list[dict[str, Any]]) -> int:
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as upsert
    else:
        from sqlalchemy.dialects.sqlite import insert as upsert  # type: ignore[assignment]
    statement = (
        upsert(DayClose)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["school_id", "date"])
        .returning(DayClose.id)
    )
    return len(db.session.scalars(statement).all())


def runnable(now: dt.datetime, limit: int = 50) -> list[int]:
    """Pending closes no job holds: leased to the caller's job now (oldest dates first)."""
    ids = list(
        db.session.scalars(
            select(DayClose.id)
            .where(
                DayClose.status == CLOSE_PENDING,
                or_(DayClose.lease_until.is_(None), DayClose.lease_until <= now),
            )
            .order_by(DayClose.date, DayClose.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    if ids:
        db.session.execute(
            update(DayClose).where(DayClose.id.in_(ids)).values(lease_until=now + LEASE)
        )
    return ids


def locked(close_id: int) -> DayClose | None:
    """The close row, locked until the transaction ends."""
    return db.session.scalar(select(DayClose).where(DayClose.id == close_id).with_for_update())


def is_counted_date(school: School, day: dt.date) -> bool:
    """Whether the date is a school day and no closure (else it has nothing to close)."""
    return presence.is_school_day(day, rules_for(school))


def request_reports(close: DayClose, school: School) -> list[requesting.Requested]:
    """Ask the pipeline for the close's two reports (or find those it asked for before)."""
    known = dict(close.report_ids or {})
    reports = {k: db.session.get(Report, v) for k, v in known.items() if v}
    if any(r is None or r.status == REPORT_FAILED for r in reports.values()):
        known, reports = {}, {}
    asked: list[requesting.Requested] = []
    if known:
        return asked
    start = year_start(school, close.date)
    settings = settings_from(current_app.config)
    now = requesting.now_for_report()
    ranges = {"to_date": (close.date, "day")}
    if close.date > start:
        ranges["before"] = (close.date - dt.timedelta(days=1), "month")
    for name, (end, granularity) in ranges.items():
        requested = requesting.request_report(
            school, start, end, granularity, now, settings, users=True
        )
        asked.append(requested)
        known[name] = requested.report_id
    close.report_ids = known
    db.session.flush()
    return asked


def reports_of(close: DayClose) -> dict[str, Report] | None:
    """The close's finished reports by name, or None while one is unfinished."""
    found = {k: db.session.get(Report, v) for k, v in (close.report_ids or {}).items()}
    if not found or any(r is None or r.status != REPORT_FINISHED for r in found.values()):
        return None
    return {k: r for k, r in found.items() if r is not None}


def decide(close: DayClose, school: School, reports: dict[str, Report]) -> list[Event]:
    """The events of a closed date, read from its finished reports."""
    day = close.date
    document = reports["to_date"].result or {}
    before = reports["before"].result or {} if "before" in reports else {}
    earlier = {u["user_id"]: u for u in before.get("users", [])}
    events: list[Event] = []
    for user in document.get("users", []):
        uid = user["user_id"]
        was = earlier.get(uid, {})
        who = {
            "user_id": uid,
            "name": user["name"],
            "external_id": user["external_id"],
            "group": user["group"],
        }
        base = {"school_id": school.id, "date": day.isoformat(), **who}
        counted_today = user["counted_days"] > was.get("counted_days", 0)
        if counted_today and user["absence_streak"] == school.alert_streak_days:
            events.append(
                Event(
                    ABSENCE_STREAK,
                    school.id,
                    f"streak:{uid}:{day}",
                    {**base, "absence_streak": user["absence_streak"]},
                )
            )
        if user["chronic"] and not was.get("chronic", False):
            events.append(
                Event(
                    CHRONIC,
                    school.id,
                    f"chronic:{uid}:{day}",
                    {
                        **base,
                        "from": year_start(school, day).isoformat(),
                        "counted_days": user["counted_days"],
                        "absent_days": user["absent_days"],
                        "excused_days": user["excused_days"],
                    },
                )
            )
    bucket = next(
        (b for b in document.get("buckets", []) if b.get("date") == day.isoformat()), None
    )
    events.append(
        Event(
            DAY_CLOSED,
            school.id,
            f"day:{school.id}:{day}",
            {
                "school_id": school.id,
                "date": day.isoformat(),
                "bucket": bucket,
                "report_id": reports["to_date"].id,
            },
        )
    )
    return events


def finish(close: DayClose, events: int) -> None:
    """Mark the close done (in the transaction that records its events)."""
    close.status = CLOSE_DONE
    close.events = events
    close.closed_at = clock.now()
    close.lease_until = None
    db.session.flush()


def wait_again(close: DayClose) -> None:
    """Let the next tick look again soon (its reports are being computed)."""
    close.lease_until = clock.now() + WAIT
    close.attempts += 1
    db.session.flush()
