"""Reports: requested, split into per-day chunks, combined; the database is their record.

The steps are idempotent so that a job run twice (RQ may do that) or run again after a
lost worker changes nothing:

- `create_report` stores the request (or finds an identical one in flight, or a finished
  one whose inputs have not changed since);
- `plan` makes one chunk per local date, taking finished past days from the day cache;
- `compute_chunk` computes one date with `presence.day_results` and caches it when past;
- `finalize` combines the chunks with `presence.aggregate` once all are done, or fails the
  report with the failing day's message;
- `reap` finds work whose worker was lost (an expired lease) and hands it back.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload, undefer

from .. import inputs, presence
from ..extensions import db
from ..models import (
    CHUNK_DONE,
    CHUNK_FAILED,
    CHUNK_PENDING,
    CHUNK_RUNNING,
    REPORT_FAILED,
    REPORT_FINISHED,
    REPORT_QUEUED,
    REPORT_RUNNING,
    Attendance,
    DaySummary,
    DayVersion,
    Report,
    ReportChunk,
    School,
    User,
    utcnow,
)
from ..signals import report_planned
from . import ServiceError

MAX_RANGE_DAYS = 366
IN_FLIGHT = (REPORT_QUEUED, REPORT_RUNNING)


@dataclass(frozen=True)
class Settings:
    """The pipeline's knobs, from the app config (see `settings_from`)."""

    chunk_timeout: int = 60  # seconds a chunk job may run
    lease_grace: int = 10  # seconds past the timeout before a running chunk counts as lost
    chunk_attempts: int = 3  # tries per chunk, failures and lost workers together
    deadline: int = 900  # seconds after which an unfinished report fails
    faults: dict[str, Any] = field(default_factory=dict)  # fault injection, for tests


def settings_from(config: Any) -> Settings:
    """Read the pipeline settings from a Flask config mapping."""
    return Settings(
        chunk_timeout=int(config.get("REPORT_CHUNK_TIMEOUT", 60)),
        lease_grace=int(config.get("REPORT_LEASE_GRACE", 10)),
        chunk_attempts=int(config.get("REPORT_CHUNK_ATTEMPTS", 3)),
        deadline=int(config.get("REPORT_DEADLINE", 900)),
        faults=dict(config.get("REPORT_FAULTS") or {}),
    )


def now_for_report() -> dt.datetime:
    """The instant a new report is computed as of: the next whole second, so that
    `generated_at` is exact and no event stored before the request is after it (a
    check-in recorded a moment ago counts as checked in now)."""
    now = utcnow()
    if now.microsecond:
        now = now.replace(microsecond=0) + dt.timedelta(seconds=1)
    return now


def rules_for(school: School) -> presence.Rules:
    """The presence rules of a school, with its closures."""
    return presence.Rules(
        timezone=school.timezone,
        school_days=frozenset(school.school_days),
        closures=frozenset(c.date for c in school.closures),
        min_daily_hours=school.min_daily_hours,
        period_ratio=school.period_ratio,
    )


def _days(start: dt.date, end: dt.date) -> list[dt.date]:
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]


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
    if (end - start).days + 1 > MAX_RANGE_DAYS:
        raise ServiceError("to", f"the range must not be longer than {MAX_RANGE_DAYS} days")


# -- encoding ----------------------------------------------------------------------------
# A date's per-user results are stored in columns (one JSON array per field, by user id):
# compact, and the final step reads the two it needs without building objects per user.
# Rows of an earlier format ([user_id, total_us, present, checked_in_now, orphan_checkouts,
# unclosed, first_checkin_us] per user) are still read.

FORMAT = 2
COLUMNS = (
    "user_id",
    "total_us",
    "present",
    "checked_in_now",
    "orphan_checkouts",
    "unclosed",
    "first_checkin_us",
)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_FLAGS = frozenset({"present", "checked_in_now"})


def encode(table: presence.DayTable) -> dict[str, Any]:
    """A date's results as JSON-friendly columns (flags as 0 and 1: shorter than JSON's
    true and false, in the largest values the reports keep)."""
    doc: dict[str, Any] = {"format": FORMAT}
    for name in COLUMNS:
        values = getattr(table, name)
        doc[name] = [int(v) for v in values] if name in _FLAGS else values
    return doc


EMPTY = presence.DayTable([], [], [], [], [], [], [])


def columns(stored: Any) -> dict[str, list[Any]]:
    """The stored results of a date as columns, whichever format they were stored in."""
    if isinstance(stored, dict):
        return {name: stored[name] for name in COLUMNS}
    rows = stored or []
    return {name: [row[i] for row in rows] for i, name in enumerate(COLUMNS)}


def totals(stored: Any) -> presence.DayTotals:
    """What the final step needs of a date: each user's time and who is checked in now."""
    cols = columns(stored)
    users = cols["user_id"]
    return presence.DayTotals(
        dict(zip(users, cols["total_us"], strict=True)),
        frozenset(u for u, now in zip(users, cols["checked_in_now"], strict=True) if now),
    )


def decode(day: dt.date, stored: Any) -> dict[int, presence.DayResult]:
    """Stored results back to day results (without the session list, which reports do not
    need)."""
    cols = columns(stored)
    return {
        user_id: presence.DayResult(
            user_id=user_id,
            day=day,
            total=dt.timedelta(microseconds=total_us),
            present=bool(present),
            checked_in_now=bool(in_now),
            orphan_checkouts=orphans,
            unclosed=unclosed,
            sessions=(),
            first_checkin=None if first is None else _EPOCH + dt.timedelta(microseconds=first),
        )
        for user_id, total_us, present, in_now, orphans, unclosed, first in zip(
            *(cols[name] for name in COLUMNS), strict=True
        )
    }


# -- requesting --------------------------------------------------------------------------


def _versions(school_id: int, start: dt.date, end: dt.date) -> dict[dt.date, int]:
    rows = db.session.execute(
        select(DayVersion.day, DayVersion.version).where(
            DayVersion.school_id == school_id, DayVersion.day.between(start, end)
        )
    )
    return {day: version for day, version in rows}


def fingerprint(school: School, start: dt.date, end: dt.date) -> str:
    """What the figures of a past range depend on: the school's generation, its chronic
    settings (presence.md 8: they change a range's figure, no date's) and day versions."""
    versions = _versions(school.id, start, end)
    text = f"{school.generation}|{school.chronic_ratio}|{school.chronic_min_days}|"
    text += ",".join(f"{d}:{v}" for d, v in sorted(versions.items()))
    return hashlib.sha256(text.encode()).hexdigest()


def create_report(
    school: School,
    start: dt.date,
    end: dt.date,
    granularity: str,
    now: dt.datetime,
    deadline: int = 900,
) -> tuple[Report, bool]:
    """A report for the request, and whether it is new (False: shared or already finished)."""
    validate_range(start, end, granularity)
    today = presence.local_today(now, school.timezone)
    # What the figures depend on besides now. A past range whose inputs are unchanged has
    # the figures of the last finished report; any range shares a computation in flight
    # only with requests that saw the same inputs (a late sync in between starts another).
    inputs = fingerprint(school, start, end)
    fp = inputs if end < today else None
    if fp is not None:
        done = db.session.scalar(
            select(Report)
            .where(
                Report.school_id == school.id,
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
    key = f"{school.id}:{start}:{end}:{granularity}:{inputs}"
    existing = _in_flight(key, now, deadline)
    if existing is not None:
        return existing, False
    report = Report(
        id=uuid.uuid4().hex,
        school_id=school.id,
        start=start,
        end=end,
        granularity=granularity,
        now=now,
        status=REPORT_QUEUED,
        inflight_key=key,
        fingerprint=fp,
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
        _fail(report, "timed out: the report was not finished in time")
        db.session.flush()
        return None
    return report


def abandon(report_id: str, message: str) -> None:
    """Fail a report that could not be queued (its in-flight key freed for the next request)."""
    report = _locked_report(report_id)
    if report is not None and report.status in IN_FLIGHT:
        _fail(report, message)
        db.session.flush()


# -- the steps ---------------------------------------------------------------------------


def _locked_report(report_id: str) -> Report | None:
    return db.session.scalar(select(Report).where(Report.id == report_id).with_for_update())


def plan(report_id: str, settings: Settings | None = None) -> list[dt.date]:
    """Make the report's chunks; returns the dates that need computing (none if planned)."""
    report = _locked_report(report_id)
    if report is None or report.status not in IN_FLIGHT or report.chunks:
        return []
    school = db.session.get_one(School, report.school_id)
    today = presence.local_today(report.now, school.timezone)
    days = _days(report.start, report.end)
    versions = _versions(school.id, report.start, report.end)
    cached = {
        s.day: s
        for s in db.session.scalars(
            select(DaySummary)
            .options(undefer(DaySummary.results))
            .where(
                DaySummary.school_id == school.id,
                DaySummary.day.between(report.start, min(report.end, today)),
                DaySummary.generation == school.generation,
            )
        )
    }
    todo = []
    rows: dict[dt.date, dict[str, Any]] = {}
    for day in days:
        summary = cached.get(day)
        if day > today:
            rows[day] = _chunk_row(report.id, day, CHUNK_DONE, "future", encode(EMPTY))
        elif day < today and summary is not None and summary.version == versions.get(day, 0):
            rows[day] = _chunk_row(report.id, day, CHUNK_DONE, "cache", summary.results)
        else:
            rows[day] = _chunk_row(report.id, day, CHUNK_PENDING, None, None)
            todo.append(day)
    # A date without a single event has nothing to pair: no job for it (weekends,
    # holidays). A date is probed with the same bounds its chunk would read.
    busy = _dates_with_events(school, todo)
    if settings is not None:  # fault injection (tests): a failing date gets its job
        busy.update(d for d in todo if str(d) in settings.faults.get("fail_days", ()))
    for day in todo:
        if day not in busy:
            rows[day] = _chunk_row(report.id, day, CHUNK_DONE, "empty", encode(EMPTY))
    todo = [day for day in todo if day in busy]
    # One multi-row INSERT (a month is 31 rows): the unit of work would send one each.
    db.session.execute(insert(ReportChunk), list(rows.values()))
    report_planned.send(None, hits=sum(r["source"] == "cache" for r in rows.values()),
                        misses=len(todo))  # fmt: skip
    report.status = REPORT_RUNNING
    report.started_at = utcnow()
    report.chunks_total = len(days)
    db.session.flush()
    return todo


def _chunk_row(
    report_id: str, day: dt.date, status: str, source: str | None, results: Any
) -> dict[str, Any]:
    return {
        "report_id": report_id,
        "day": day,
        "status": status,
        "source": source,
        "results": results,
        "attempts": 0,
        "updated_at": utcnow(),
    }


def _dates_with_events(school: School, days: Sequence[dt.date]) -> set[dt.date]:
    """Those of days on which the school has any event (by the dates' UTC bounds)."""
    found: set[dt.date] = set()
    for i in range(0, len(days), 200):
        batch = days[i : i + 200]
        probes = []
        for day in batch:
            start, end = presence.day_bounds(day, school.timezone)
            # min() rather than EXISTS: it is always one index probe, where the planner
            # may pick a sequential scan for EXISTS (the whole table, on an empty date).
            probes.append(
                select(func.min(Attendance.timestamp))
                .where(
                    Attendance.school_id == school.id,
                    Attendance.timestamp >= start,
                    Attendance.timestamp < end,
                )
                .scalar_subquery()
            )
        row = db.session.execute(select(*probes)).one()
        found.update(day for day, first in zip(batch, row, strict=True) if first is not None)
    return found


def start_chunk(report_id: str, day: dt.date, settings: Settings) -> bool:
    """Take the chunk's lease; False when there is nothing to do (done, failed, or gone)."""
    lease = utcnow() + dt.timedelta(seconds=settings.chunk_timeout + settings.lease_grace)
    taken = db.session.execute(
        update(ReportChunk)
        .where(
            ReportChunk.report_id == report_id,
            ReportChunk.day == day,
            ReportChunk.status.in_((CHUNK_PENDING, CHUNK_RUNNING)),
        )
        .values(status=CHUNK_RUNNING, lease_until=lease)
    )
    return bool(taken.rowcount)  # type: ignore[attr-defined]


def compute_chunk(report_id: str, day: dt.date, settings: Settings) -> None:
    """Compute one local date of a report and store it (and cache it when it is past)."""
    # The chunk with its report, then the school with its closures: two queries, not four.
    chunk = db.session.scalars(
        select(ReportChunk)
        .options(joinedload(ReportChunk.report))
        .where(ReportChunk.report_id == report_id, ReportChunk.day == day)
    ).one()
    if chunk.status == CHUNK_DONE:
        return
    report = chunk.report
    school = db.session.get_one(School, report.school_id, options=[joinedload(School.closures)])
    if str(day) in settings.faults.get("fail_days", ()):
        raise RuntimeError(f"injected fault on {day}")
    rules = rules_for(school)
    # Read the versions before the events: a change committed in between then makes the
    # cached result stale instead of wrongly current.
    generation = school.generation
    version = _versions(school.id, day, day).get(day, 0)
    rows = encode(presence.day_table(_event_rows(school, day), day, rules, report.now))
    chunk.status, chunk.source, chunk.results = CHUNK_DONE, "computed", rows
    chunk.error, chunk.lease_until = None, None
    if day < presence.local_today(report.now, school.timezone):
        _store_summary(school.id, day, generation, version, rows)
    db.session.flush()


def _event_rows(school: School, day: dt.date) -> Sequence[presence.Row]:
    """The school's events within the date's bounds, as (user_id, timestamp, id, type),
    in the order pairing wants them."""
    start, end = presence.day_bounds(day, school.timezone)
    query = (
        select(Attendance.user_id, Attendance.timestamp, Attendance.id, Attendance.type)
        .where(
            Attendance.school_id == school.id,
            Attendance.timestamp >= start,
            Attendance.timestamp < end,
        )
        .order_by(Attendance.user_id, Attendance.timestamp, Attendance.id)
    )
    connection = db.session.connection()
    if connection.dialect.name != "postgresql":
        return connection.execute(query).all()
    # A date is thousands of rows, and this is most of a chunk's time: psycopg's binary
    # format hands back UTC datetimes from C, about twice as fast as the text format
    # through SQLAlchemy's result processing. The same query, in the same transaction.
    compiled = query.compile(dialect=connection.dialect)
    driver = connection.connection.driver_connection
    with driver.cursor(binary=True) as cursor:  # type: ignore[union-attr]
        cursor.execute(str(compiled), compiled.params)
        return cursor.fetchall()


def _store_summary(school_id: int, day: dt.date, generation: int, version: int, rows: Any) -> None:
    db.session.execute(
        delete(DaySummary).where(DaySummary.school_id == school_id, DaySummary.day == day)
    )
    db.session.add(
        DaySummary(
            school_id=school_id, day=day, generation=generation, version=version, results=rows
        )
    )


def record_chunk_failure(
    report_id: str, day: dt.date, error: BaseException, settings: Settings
) -> bool:
    """Count a failed try; returns True when the chunk has no tries left (it is failed)."""
    chunk = db.session.get(ReportChunk, (report_id, day))
    if chunk is None or chunk.status == CHUNK_DONE:
        return False
    chunk.attempts += 1
    chunk.error = f"{type(error).__name__}: {error}"[:2000]
    chunk.lease_until = None
    final = chunk.attempts >= settings.chunk_attempts
    chunk.status = CHUNK_FAILED if final else CHUNK_PENDING
    db.session.flush()
    return final


def ready_to_finalize(report_id: str) -> bool:
    """True when no chunk of the report is waiting or running (each is done or failed)."""
    unfinished = db.session.scalar(
        select(func.count())
        .select_from(ReportChunk)
        .where(
            ReportChunk.report_id == report_id,
            ReportChunk.status.in_((CHUNK_PENDING, CHUNK_RUNNING)),
        )
    )
    return not unfinished


def finalize(report_id: str) -> str:
    """Combine the chunks into the finished report, or fail it; returns the report's status."""
    report = _locked_report(report_id)
    if report is None:
        return REPORT_FAILED
    if report.status not in IN_FLIGHT:
        return report.status
    chunks = report.chunks
    failed = [c for c in chunks if c.status == CHUNK_FAILED]
    if failed:
        first = failed[0]
        _fail(report, f"could not compute {first.day}: {first.error or 'unknown error'}")
        return report.status
    if not chunks or any(c.status != CHUNK_DONE for c in chunks):
        return report.status
    school = db.session.get_one(School, report.school_id)
    user_ids = db.session.scalars(
        select(User.id).where(User.school_id == school.id, User.deleted_at.is_(None))
    ).all()
    stored = _stored_results(report.id)
    days = {day: totals(results) for day, results in stored.items()}
    figures = presence.aggregate(
        user_ids, days, report.start, report.end, report.granularity, rules_for(school), report.now
    )
    report.result = _document(figures, stored, days, set(user_ids), report)
    report.status = REPORT_FINISHED
    report.finished_at = utcnow()
    report.inflight_key = None
    db.session.flush()
    return report.status


def _stored_results(report_id: str) -> dict[dt.date, dict[str, list[Any]]]:
    rows = db.session.execute(
        select(ReportChunk.day, ReportChunk.results).where(ReportChunk.report_id == report_id)
    )
    return {day: columns(results) for day, results in rows}


def day_results(report_id: str) -> dict[dt.date, dict[int, presence.DayResult]]:
    """The per-user results of each date of a report's chunks (in one query; no sessions)."""
    return {day: decode(day, cols) for day, cols in _stored_results(report_id).items()}


def _document(
    figures: presence.Report,
    stored: dict[dt.date, dict[str, list[Any]]],
    days: dict[dt.date, presence.DayTotals],
    enrolled: set[int],
    report: Report,
) -> dict[str, Any]:
    today = presence.local_today(report.now, _school_tz(report))
    quality = [
        {
            "date": day.isoformat(),
            "orphan_checkouts": sum(cols["orphan_checkouts"]),
            "unclosed": sum(cols["unclosed"]),
        }
        for day, cols in sorted(stored.items())
    ]
    in_school_now = len(days[today].checked_in_now & enrolled) if today in days else 0
    return {
        **figures.to_dict(),
        "per_user": {str(uid): s.to_dict() for uid, s in figures.per_user.items()},
        "quality": quality,
        "in_school_now": in_school_now if report.start <= today <= report.end else None,
    }


def _school_tz(report: Report) -> str:
    return db.session.get_one(School, report.school_id).timezone


def _fail(report: Report, message: str) -> None:
    report.status = REPORT_FAILED
    report.error = message
    report.finished_at = utcnow()
    report.inflight_key = None


# -- reading -----------------------------------------------------------------------------


def progress(report: Report) -> dict[str, int]:
    """Chunks done out of the total (the total is 0 until the report is planned)."""
    done = db.session.scalar(
        select(func.count())
        .select_from(ReportChunk)
        .where(ReportChunk.report_id == report.id, ReportChunk.status == CHUNK_DONE)
    )
    return {"done": done or 0, "total": report.chunks_total}


def _stamp(instant: dt.datetime) -> str:
    return instant.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def report_document(report: Report) -> dict[str, Any]:
    """The API's document: the figures once finished, else the status and progress."""
    base: dict[str, Any] = {"report_id": report.id, "school_id": report.school_id}
    if report.status == REPORT_FINISHED and report.result is not None:
        result = report.result
        return {
            "school_id": report.school_id,
            "from": result["from"],
            "to": result["to"],
            "granularity": result["granularity"],
            "enrolled": result["enrolled"],
            "presences": result["presences"],
            "absences": result["absences"],
            "buckets": result["buckets"],
            "report_id": report.id,
            "status": report.status,
            "generated_at": _stamp(report.now),
        }
    base.update(status=report.status, progress=progress(report))
    if report.status == REPORT_FAILED:
        base["error"] = report.error
    return base


# -- recovery ----------------------------------------------------------------------------


@dataclass
class Recovery:
    """Work the reaper hands back to the queue."""

    chunks: list[tuple[str, dt.date]] = field(default_factory=list)
    finalize: set[str] = field(default_factory=set)
    plan: set[str] = field(default_factory=set)


def reap(now: dt.datetime, settings: Settings, everything: bool = False) -> Recovery:
    """Find lost work: expired chunk leases, unplanned or unfinalized reports, overdue reports.

    `everything` treats every unfinished step as lost (an in-process restart).
    """
    found = Recovery()
    lease_over = ReportChunk.lease_until < now
    stale = (
        or_(ReportChunk.status == CHUNK_RUNNING, ReportChunk.status == CHUNK_PENDING)
        if everything
        else and_(ReportChunk.status == CHUNK_RUNNING, lease_over)
    )
    for chunk in db.session.scalars(select(ReportChunk).where(stale).with_for_update()):
        if chunk.status == CHUNK_RUNNING:
            chunk.attempts += 1
            chunk.error = "the worker computing this day was lost"
        chunk.lease_until = None
        if chunk.attempts >= settings.chunk_attempts:
            chunk.status = CHUNK_FAILED
        else:
            chunk.status = CHUNK_PENDING
            found.chunks.append((chunk.report_id, chunk.day))
        found.finalize.add(chunk.report_id)
    overdue = now - dt.timedelta(seconds=settings.deadline)
    for report in db.session.scalars(
        select(Report).where(Report.status.in_(IN_FLIGHT)).with_for_update()
    ):
        if report.created_at < overdue:
            _fail(report, f"timed out: not finished within {settings.deadline} seconds")
            found.finalize.discard(report.id)
        elif report.status == REPORT_QUEUED:
            if everything or report.created_at < now - dt.timedelta(seconds=30):
                found.plan.add(report.id)
        elif report.chunks and all(c.status in (CHUNK_DONE, CHUNK_FAILED) for c in report.chunks):
            # Normally the final step is already queued; only a quiet report needs a push.
            quiet_since = now - dt.timedelta(seconds=settings.lease_grace)
            if everything or max(c.updated_at for c in report.chunks) < quiet_since:
                found.finalize.add(report.id)
    db.session.flush()
    return found


def pending_chunks(older_than: dt.datetime) -> list[tuple[str, dt.date]]:
    """Chunks waiting for a job since before `older_than` (their job may have been lost)."""
    rows = db.session.execute(
        select(ReportChunk.report_id, ReportChunk.day).where(
            ReportChunk.status == CHUNK_PENDING, ReportChunk.updated_at < older_than
        )
    )
    return [(r, d) for r, d in rows]


def touch_chunks(chunks: Iterable[tuple[str, dt.date]]) -> None:
    """Mark chunks as just handed to a job."""
    for report_id, day in chunks:
        db.session.execute(
            update(ReportChunk)
            .where(ReportChunk.report_id == report_id, ReportChunk.day == day)
            .values(updated_at=utcnow())
        )
