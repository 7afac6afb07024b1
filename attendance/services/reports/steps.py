"""The pipeline's steps: plan a report, compute one chunk (a local date), finalize.

Each is called by its job (attendance/jobs/reports.py), which commits and queues what
comes next; each is idempotent, so a job run twice or run again after a lost worker
changes nothing: plan does nothing once the chunks exist, a chunk already done is skipped,
and finalize does nothing once the report has ended. How they fit together: the package's
docstring (attendance/services/reports/__init__.py).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from types import ModuleType
from typing import Any

from sqlalchemy import Select, delete, func, insert, or_, select, update
from sqlalchemy.orm import joinedload, undefer

from ... import clock, presence
from ...extensions import db
from ...models import (
    CHUNK_DONE,
    CHUNK_FAILED,
    CHUNK_PENDING,
    CHUNK_RUNNING,
    REPORT_FAILED,
    REPORT_FINISHED,
    REPORT_RUNNING,
    Attendance,
    DaySummary,
    Enrolment,
    Mark,
    ReportChunk,
    School,
    User,
)
from ...signals import report_planned
from . import IN_FLIGHT, Settings, day_versions, fail, locked_report, rules_for
from .encoding import encode, facts, is_current
from .reading import UserInfo, finished_document, stored_results


def _district() -> ModuleType:
    """The district report's steps (a report of no school), imported when first needed:
    that module builds on this package's requesting, which imports the jobs."""
    from . import district

    return district


def _days(start: dt.date, end: dt.date) -> list[dt.date]:
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]


def plan(report_id: str) -> list[dt.date]:
    """Make the report's chunks; returns the dates that need computing (none if planned)."""
    report = locked_report(report_id)
    if report is None or report.status not in IN_FLIGHT or report.chunks:
        return []
    if report.school_id is None:
        return _district().plan(report)
    school = db.session.get_one(School, report.school_id)
    today = presence.local_today(report.now, school.timezone)
    days = _days(report.start, report.end)
    versions = day_versions(school.id, report.start, report.end)
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
        current = (
            summary is not None
            and is_current(summary.results)
            and summary.version == versions.get(day, 0)
        )
        if day > today:
            rows[day] = _chunk_row(report.id, day, CHUNK_DONE, "future", None)
        elif day < today and summary is not None and current:
            rows[day] = _chunk_row(report.id, day, CHUNK_DONE, "cache", summary.results)
        else:
            rows[day] = _chunk_row(report.id, day, CHUNK_PENDING, None, None)
            todo.append(day)
    # A date without a single event has nothing to pair: no job for it (weekends,
    # holidays). A date is probed with the same bounds its chunk would read. Its facts
    # (and a future date's: enrolled, planned absences) come from enrolments and marks,
    # read here for all of them at once.
    busy = _dates_with_events(school, todo)
    for day in todo:
        if day not in busy:
            rows[day] = _chunk_row(report.id, day, CHUNK_DONE, "empty", None)
    todo = [day for day in todo if day in busy]
    unpaired = [
        day for day, row in rows.items() if row["status"] == CHUNK_DONE and row["results"] is None
    ]
    if unpaired:
        rules = rules_for(school)
        enrolled = _enrolled(school.id, unpaired[0], unpaired[-1])
        marks = _marks(school.id, unpaired[0], unpaired[-1])
        for day in unpaired:
            decided = _day_facts(day, None, enrolled, marks, rules, report.now)
            rows[day]["results"] = encode(decided, None)
    # One multi-row INSERT (a month is 31 rows): the unit of work would send one each.
    db.session.execute(insert(ReportChunk), list(rows.values()))
    report_planned.send(None, hits=sum(r["source"] == "cache" for r in rows.values()),
                        misses=len(todo))  # fmt: skip
    report.status = REPORT_RUNNING
    report.started_at = clock.now()
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
        "updated_at": clock.now(),
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
    lease = clock.now() + dt.timedelta(seconds=settings.chunk_timeout + settings.lease_grace)
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


def chunk_started(report_id: str, day: dt.date) -> None:
    """Called by the chunk job once the chunk's lease is committed, before it computes.

    It does nothing: it is the seam where tests make a date fail or a chunk take a while
    (tests/faults.py patches it), so that the code they exercise has no fault switches.
    """


def compute_chunk(report_id: str, day: dt.date) -> None:
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
    if report.school_id is None:
        _district().compute_chunk(chunk)
        return
    school = db.session.get_one(School, report.school_id, options=[joinedload(School.closures)])
    rules = rules_for(school)
    # Read the versions before the events, enrolments and marks: a change committed in
    # between then makes the cached result stale instead of wrongly current.
    generation = school.generation
    version = day_versions(school.id, day, day).get(day, 0)
    table = presence.day_table(_event_rows(school, day), day, rules, report.now)
    enrolled = _enrolled(school.id, day, day)
    marks = _marks(school.id, day, day)
    decided = _day_facts(day, table, enrolled, marks, rules, report.now)
    rows = encode(decided, table)
    chunk.status, chunk.source, chunk.results = CHUNK_DONE, "computed", rows
    chunk.error, chunk.lease_until = None, None
    if day < presence.local_today(report.now, school.timezone):
        _store_summary(school.id, day, generation, version, rows)
    db.session.flush()


def day_events_query(school: School, day: dt.date) -> Select[int, dt.datetime, int, str]:
    """The school's events within the date's bounds, as (user_id, timestamp, id, type),
    in the order pairing wants them. Bounded by the instants, so that PostgreSQL reads
    the month's partition (two at a month's edge, where a local date straddles two UTC
    months) and no other (tests/test_partitions.py)."""
    start, end = presence.day_bounds(day, school.timezone)
    return (
        select(Attendance.user_id, Attendance.timestamp, Attendance.id, Attendance.type)
        .where(
            Attendance.school_id == school.id,
            Attendance.timestamp >= start,
            Attendance.timestamp < end,
        )
        .order_by(Attendance.user_id, Attendance.timestamp, Attendance.id)
    )


def _event_rows(school: School, day: dt.date) -> Sequence[presence.Row]:
    """The rows of `day_events_query`."""
    query = day_events_query(school, day)
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


def _enrolled(school_id: int, first: dt.date, last: dt.date) -> list[tuple[int, presence.Span]]:
    """The school's enrolments that cover some date of first..last, as (user id, span):
    archived users and users moved away included (presence.md 5). One query."""
    rows = db.session.execute(
        select(Enrolment.user_id, Enrolment.from_, Enrolment.until).where(
            Enrolment.school_id == school_id,
            or_(Enrolment.from_.is_(None), Enrolment.from_ <= last),
            or_(Enrolment.until.is_(None), Enrolment.until >= first),
        )
    )
    return [(user_id, (start, end)) for user_id, start, end in rows]


def _marks(school_id: int, first: dt.date, last: dt.date) -> dict[dt.date, list[presence.Mark]]:
    """The mark history of first..last at the school, by date (one query). The entry with
    the highest id is the effective one (services/marks): the id orders them."""
    rows = db.session.execute(
        select(Mark.id, Mark.user_id, Mark.date, Mark.status, Mark.excused).where(
            Mark.school_id == school_id, Mark.date.between(first, last)
        )
    )
    found: dict[dt.date, list[presence.Mark]] = {}
    for mark_id, user_id, day, status, excused in rows:
        mark = presence.Mark(user_id, day, status, _EPOCH, mark_id, bool(excused))
        found.setdefault(day, []).append(mark)
    return found


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _day_facts(
    day: dt.date,
    table: presence.DayTable | None,
    enrolments: list[tuple[int, presence.Span]],
    marks: dict[dt.date, list[presence.Mark]],
    rules: presence.Rules,
    now: dt.datetime,
) -> presence.DayFacts:
    """One date decided: the users enrolled on it, its pairing and its marks."""
    enrolled = {u for u, span in enrolments if presence.covers(span, day)}
    pairing = None if table is None else presence.DayTotals.of_table(table)
    return presence.day_facts(day, pairing, enrolled, rules, now, None, marks.get(day, ()))


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
    report = locked_report(report_id)
    if report is None:
        return REPORT_FAILED
    if report.status not in IN_FLIGHT:
        return report.status
    chunks = report.chunks
    failed = [c for c in chunks if c.status == CHUNK_FAILED]
    if failed:
        first = failed[0]
        fail(report, f"could not compute {first.day}: {first.error or 'unknown error'}")
        return report.status
    if not chunks or any(c.status != CHUNK_DONE for c in chunks):
        return report.status
    if report.school_id is None:
        return _district().finalize(report)
    school = db.session.get_one(School, report.school_id, options=[joinedload(School.closures)])
    stored = stored_results(report.id)
    days = {day: facts(day, cols) for day, cols in stored.items()}
    # `&group=` narrows here, not in the chunks: the dates' stored facts (and the day
    # cache) are the school's, shared by every group's reports.
    members = None if report.group is None else _group_members(school.id, report.group)
    if members is not None:
        days = {day: _narrowed(f, members) for day, f in days.items()}
    figures = presence.combine(
        days, report.start, report.end, report.granularity, rules_for(school), report.now
    )
    today = presence.local_today(report.now, school.timezone)
    users = _user_info(school.id, figures) if report.with_users else None
    report.result = finished_document(figures, stored, days, today, members, users)
    report.status = REPORT_FINISHED
    report.finished_at = clock.now()
    report.inflight_key = None
    db.session.flush()
    return report.status


def _group_members(school_id: int, group: str) -> frozenset[int]:
    """The users ever enrolled at the school whose group is `group` now (a regrouped
    pupil's past counts under their current group; archived users and users moved away
    included, as in the figures)."""
    enrolled_here = select(Enrolment.user_id).where(Enrolment.school_id == school_id)
    return frozenset(
        db.session.scalars(select(User.id).where(User.group == group, User.id.in_(enrolled_here)))
    )


def _narrowed(f: presence.DayFacts, members: frozenset[int]) -> presence.DayFacts:
    """A date's facts cut down to the members."""
    return dataclasses.replace(
        f,
        enrolled=f.enrolled & members,
        present=f.present & members,
        excused=f.excused & members,
        late=None if f.late is None else f.late & members,
        total_us={u: us for u, us in f.total_us.items() if u in members},
        checked_in_now=f.checked_in_now & members,
        auto_closed=f.auto_closed & members,
    )


def _user_info(school_id: int, figures: presence.Report) -> dict[int, UserInfo]:
    """Name, external id and group (as they are now) of the users the report counts.

    One query for every user ever enrolled at the school (each counted user is), rather
    than the counted ids in batches: 2,000 bound ids cost more to send than the rows."""
    counted = {u for u, s in figures.per_user.items() if s.counted_days}
    enrolled_here = select(Enrolment.user_id).where(Enrolment.school_id == school_id)
    rows = db.session.execute(
        select(User.id, User.name, User.external_id, User.group).where(User.id.in_(enrolled_here))
    )
    return {uid: UserInfo(name, ext, group) for uid, name, ext, group in rows if uid in counted}
