"""Asking for a report: store it (or share one), queue its plan once committed, wait for it.

The caller (the API's aggregate route, the dashboard's pipeline) commits in between:

    requested = request_report(school, start, end, granularity, now, settings)
    db.session.commit()  # first: the plan's worker must find the report row
    try:
        requested.after_commit()  # queues the plan of a new report
    except QueueUnavailable:
        db.session.commit()  # the report, failed by after_commit: never left queued
        raise
    [report] = wait_for([requested.report], seconds)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ... import clock, inputs, presence
from ...extensions import db
from ...jobs.queue import QueueUnavailable, dispatcher
from ...jobs.reports import plan_call
from ...models import (
    REPORT_FAILED,
    REPORT_FINISHED,
    REPORT_QUEUED,
    Enrolment,
    Report,
    School,
    User,
)
from .. import ServiceError
from . import IN_FLIGHT, Settings, day_versions, fail, locked_report
from .encoding import FORMAT

ENDED = (REPORT_FINISHED, REPORT_FAILED)


def now_for_report() -> dt.datetime:
    """The instant a new report is computed as of: the next whole second, so that
    `generated_at` is exact and no event stored before the request is after it (a
    check-in recorded a moment ago counts as checked in now)."""
    now = clock.now()
    if now.microsecond:
        now = now.replace(microsecond=0) + dt.timedelta(seconds=1)
    return now


def validate_range(start: dt.date, end: dt.date, granularity: str) -> None:
    """Refuse a range the endpoint does not serve."""
    if granularity not in presence.GRANULARITIES:
        raise ServiceError("granularity", "must be one of day, week, month")
    for name, day in (("from", start), ("to", end)):
        try:
            inputs.check_day(day)
        except inputs.InputError as error:
            raise ServiceError(name, str(error)) from None
    if start > end:
        raise ServiceError("from", "must not be after to")
    if (end - start).days + 1 > inputs.MAX_RANGE_DAYS:
        raise ServiceError("to", f"the range must not be longer than {inputs.MAX_RANGE_DAYS} days")


def validate_view(group: str | None, users: bool) -> None:
    """Refuse a `group` or `users` the endpoint does not take."""
    if group is not None and not 1 <= len(group) <= 64:
        raise ServiceError("group", "must be 1 to 64 characters")
    if not isinstance(users, bool):
        raise ServiceError("users", "must be true or false")


def fingerprint(
    school: School, start: dt.date, end: dt.date, group: str | None = None, users: bool = False
) -> str:
    """What the figures of a past range depend on: the school's generation, its chronic
    settings (presence.md 8: they change a range's figure, no date's), day versions, the
    format of the stored dates (a report of another format is not shared), and what the
    request asked to see: the group it is narrowed to and whether it lists its users, and
    then who is in the group now and the listed users' names (`roster`)."""
    versions = day_versions(school.id, start, end)
    view = "-" if group is None else "g" + group  # None and every group differ
    text = f"{FORMAT}|{view}|{int(users)}|{roster(school.id, group, users)}|"
    text += f"{school.generation}|{school.chronic_ratio}|{school.chronic_min_days}|"
    text += ",".join(f"{d}:{v}" for d, v in sorted(versions.items()))
    return hashlib.sha256(text.encode()).hexdigest()


def roster(school_id: int, group: str | None, users: bool) -> str:
    """What a narrowed or listing report shows of the school's users as they are now: the
    group's members, and with `users` every user's name, external id and group (a pupil
    regrouped or renamed changes no date, but such a report of a past range). Empty for
    the plain report, which shows neither."""
    if group is None and not users:
        return ""
    enrolled_here = select(Enrolment.user_id).where(Enrolment.school_id == school_id)
    columns = (User.id, User.name, User.external_id, User.group) if users else (User.id,)
    query = select(*columns).where(User.id.in_(enrolled_here)).order_by(User.id)
    if group is not None:
        query = query.where(User.group == group)
    rows = db.session.execute(query).all()
    return hashlib.sha256(repr([tuple(row) for row in rows]).encode()).hexdigest()


@dataclass(frozen=True)
class Requested:
    """The report a request gets, and what to do once the caller has committed it."""

    report: Report
    report_id: str  # read before the commit expires the row (a read would open a transaction)
    created: bool  # False: shared with a request in flight, or already finished

    def after_commit(self) -> None:
        """Queue the plan of a new report; run it after the commit that stores the row.

        When the queue is unavailable the report is failed (flushed: the caller commits)
        and QueueUnavailable is raised, naming it. The row is already committed (a request
        may have shared it since), so it is failed rather than deleted: whoever holds its id
        sees it fail, and a failed report is never shared, so the next request starts anew.
        """
        if not self.created:
            return
        try:
            dispatcher().enqueue(plan_call(self.report_id))
        except QueueUnavailable as error:
            abandon(self.report_id, error.detail)
            error.report_id = self.report_id
            raise


def request_report(
    school: School,
    start: dt.date,
    end: dt.date,
    granularity: str,
    now: dt.datetime,
    settings: Settings,
    group: str | None = None,
    users: bool = False,
) -> Requested:
    """The report for a request (see the module's docstring for what the caller does next):
    of the school's users, or of those whose group is `group` now; with `users`, the
    document lists each counted user's figures."""
    report, created = create_report(
        school, start, end, granularity, now, settings.deadline, group, users
    )
    return Requested(report, report.id, created)


def create_report(
    school: School,
    start: dt.date,
    end: dt.date,
    granularity: str,
    now: dt.datetime,
    deadline: int = Settings.deadline,
    group: str | None = None,
    users: bool = False,
) -> tuple[Report, bool]:
    """A report for the request, and whether it is new (False: shared or already finished)."""
    validate_range(start, end, granularity)
    validate_view(group, users)
    today = presence.local_today(now, school.timezone)
    # What the figures depend on besides now. A past range whose inputs are unchanged has
    # the figures of the last finished report; any range shares a computation in flight
    # only with requests that saw the same inputs (a late sync in between starts another).
    # The group and users are hashed into it: the key keeps its length (at most 120).
    inputs = fingerprint(school, start, end, group, users)
    fp = inputs if end < today else None
    key = f"{school.id}:{start}:{end}:{granularity}:{inputs}"
    return share_or_create(
        school.id, start, end, granularity, fp, key, now, deadline, group=group, with_users=users
    )


def share_or_create(
    school_id: int | None,
    start: dt.date,
    end: dt.date,
    granularity: str,
    fp: str | None,
    key: str,
    now: dt.datetime,
    deadline: int,
    **columns: Any,
) -> tuple[Report, bool]:
    """The finished report of these inputs (`fp`, past ranges only), else the one in flight
    under `key`, else a new queued one (True); a school's or, with no school, a district's."""
    if fp is not None:
        done = db.session.scalar(
            select(Report)
            .where(
                Report.school_id.is_(None) if school_id is None else Report.school_id == school_id,
                Report.start == start,
                Report.end == end,
                Report.granularity == granularity,
                Report.fingerprint == fp,
                Report.status == REPORT_FINISHED,
            )
            .order_by(Report.created_at.desc())
            .limit(1)
        )
        if done is not None:
            return done, False
    existing = _in_flight(key, now, deadline)
    if existing is not None:
        return existing, False
    report = Report(
        id=uuid.uuid4().hex,
        school_id=school_id,
        start=start,
        end=end,
        granularity=granularity,
        now=now,
        status=REPORT_QUEUED,
        inflight_key=key,
        fingerprint=fp,
        **columns,
    )
    try:
        with db.session.begin_nested():
            db.session.add(report)
    except IntegrityError:
        # An identical request won the race: share its computation.
        existing = _in_flight(key, now, deadline)
        if existing is None:
            raise
        return existing, False
    return report, True


def _in_flight(key: str, now: dt.datetime, deadline: int) -> Report | None:
    report = db.session.scalar(select(Report).where(Report.inflight_key == key))
    if report is None:
        return None
    if report.created_at < now - dt.timedelta(seconds=deadline):
        fail(report, "timed out: the report was not finished in time")
        db.session.flush()
        return None
    return report


def abandon(report_id: str, message: str) -> None:
    """Fail a report that could not be queued (its in-flight key freed for the next request)."""
    report = locked_report(report_id)
    if report is not None and report.status in IN_FLIGHT:
        fail(report, message)
        db.session.flush()


# -- waiting -----------------------------------------------------------------------------


def wait_for(reports: Sequence[Report], seconds: float) -> list[Report]:
    """The reports, reloaded once all have ended (finished or failed) or the seconds are
    up, whichever is first. Woken by the final step's announcement; a look every 250 ms
    anyway, in case one is lost (a report the reaper fails is not announced).

    A waiting request holds a web thread, which gate check-ins need, so waits are bounded
    twice: never longer than REPORT_WAIT_MAX, and no more than REPORT_WAITERS requests of
    a process wait at once. The others return at once, as with no wait (the API answers
    them 202 with a Location to poll). It ends the session's transaction before each
    wait: a transaction held while waiting would, on SQLite, hold the database's lock.
    """
    ids = [r.id for r in reports]
    current = list(reports)
    seconds = min(seconds, float(current_app.config["REPORT_WAIT_MAX"]))
    if seconds <= 0 or all(r.status in ENDED for r in current):
        return current
    with _waiting_slot() as slot:
        if not slot:
            return current
        deadline = time.monotonic() + seconds
        with dispatcher().listen(ids) as ended:
            while True:
                # A fresh look after subscribing, so an end announced before it is not missed.
                db.session.rollback()
                current = [db.session.get_one(Report, i) for i in ids]
                left = deadline - time.monotonic()
                if all(r.status in ENDED for r in current) or left <= 0:
                    return current
                db.session.rollback()  # never wait in a transaction
                ended(min(left, 0.25))


_WAITERS = "attendance.report_waiters"


@contextmanager
def _waiting_slot() -> Iterator[bool]:
    """One of this process's REPORT_WAITERS places to wait in: True if taken (given back
    afterwards), False at once when all are taken."""
    extensions = current_app.extensions
    slots = extensions.get(_WAITERS)
    if slots is None:  # made on first use; of two threads racing here, setdefault keeps one
        size = int(current_app.config["REPORT_WAITERS"])
        slots = extensions.setdefault(_WAITERS, threading.BoundedSemaphore(size))
    taken = slots.acquire(blocking=False)
    try:
        yield taken
    finally:
        if taken:
            slots.release()
