"""The district report: every school's figures over a range, through the report pipeline.

A district report is a report row of no school (`school_id` None), beside the schools'
reports and handled by the same jobs, leases and reaper: `steps.plan`, `compute_chunk`
and `finalize` hand a district report to the functions here.

- Fan out per date: its chunks are its dates, each covering every school. A chunk decides
  its (school-local) date of all the schools at once, in a few queries
  (services/district.py), rather than a job per school and date: a job costs more than
  one school's date, and one query for 500 schools costs little more than for one.
- The per-(school, date) day cache is the schools' own: a chunk takes each school's
  current cached date and computes (and caches, when past) the others.
- Fan in once: the final step combines each school's dates (`presence.combine`) and sums
  the schools (district_doc.py).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import undefer

from ... import clock, presence
from ...extensions import db
from ...models import (
    CHUNK_DONE,
    REPORT_FINISHED,
    REPORT_RUNNING,
    DaySummary,
    DayVersion,
    Report,
    ReportChunk,
    School,
)
from ..district import all_schools, decide
from . import Settings, rules_for
from .district_doc import district_document
from .encoding import FORMAT, columns, encode, facts, is_current
from .requesting import Requested, share_or_create, validate_range

KEY = "district"


def district_today(now: dt.datetime, schools: Sequence[School]) -> dt.date:
    """The default date of a district request: the latest of the schools' local todays
    (today in UTC without schools)."""
    days = [presence.local_today(now, school.timezone) for school in schools]
    return max(days, default=presence.local_today(now, "UTC"))


def fingerprint(schools: Sequence[School], start: dt.date, end: dt.date) -> str:
    """What a past range's district figures depend on: the schools (each one's generation
    and chronic settings), their day versions and the stored format."""
    versions = db.session.execute(
        select(DayVersion.school_id, DayVersion.day, DayVersion.version)
        .where(DayVersion.day.between(start, end))
        .order_by(DayVersion.school_id, DayVersion.day)
    )
    text = f"{FORMAT}|" + ";".join(
        f"{s.id}:{s.generation}:{s.chronic_ratio}:{s.chronic_min_days}" for s in schools
    )
    text += "|" + ",".join(f"{s}:{d}:{v}" for s, d, v in versions)
    return hashlib.sha256(text.encode()).hexdigest()


def request_district_report(
    start: dt.date, end: dt.date, granularity: str, now: dt.datetime, settings: Settings
) -> Requested:
    """The district report for a request: stored new, shared with an identical one in
    flight, or a finished one of unchanged past data (then as `requesting.request_report`)."""
    validate_range(start, end, granularity)
    schools = all_schools()
    inputs = fingerprint(schools, start, end)
    past = end < min((presence.local_today(now, s.timezone) for s in schools), default=end)
    fp = inputs if past else None
    key = f"{KEY}:{start}:{end}:{granularity}:{inputs}"
    report, created = share_or_create(
        None, start, end, granularity, fp, key, now, settings.deadline
    )
    return Requested(report, report.id, created)


def plan(report: Report) -> list[dt.date]:
    """One chunk per date of the range, each to compute (every date needs its enrolled
    pupils, and a past date's cached schools are looked up by the chunk itself)."""
    days = [
        report.start + dt.timedelta(days=i) for i in range((report.end - report.start).days + 1)
    ]
    stamp = clock.now()
    db.session.execute(
        insert(ReportChunk),
        [
            {"report_id": report.id, "day": day, "status": "pending", "attempts": 0,
             "updated_at": stamp}
            for day in days
        ],
    )  # fmt: skip
    report.status = REPORT_RUNNING
    report.started_at = clock.now()
    report.chunks_total = len(days)
    db.session.flush()
    return days


def compute_chunk(chunk: ReportChunk) -> None:
    """One date of every school: from the day cache where current, else paired and decided
    (and cached, when the date is past at that school); stored as each school's facts."""
    report, day = chunk.report, chunk.day
    schools = all_schools()
    rules = {school.id: rules_for(school) for school in schools}
    today = {school.id: presence.local_today(report.now, school.timezone) for school in schools}
    # The versions before the events, enrolments and marks (as a school's chunk does): a
    # change committed in between makes the cached result stale, never wrongly current.
    versions = dict(
        db.session.execute(
            select(DayVersion.school_id, DayVersion.version).where(DayVersion.day == day)
        ).all()
    )
    cached = {
        s.school_id: s
        for s in db.session.scalars(
            select(DaySummary).options(undefer(DaySummary.results)).where(DaySummary.day == day)
        )
    }
    decided: dict[int, presence.DayFacts] = {}
    todo = []
    for school in schools:
        summary = cached.get(school.id)
        if (
            day < today[school.id]
            and summary is not None
            and summary.generation == school.generation
            and summary.version == versions.get(school.id, 0)
            and is_current(summary.results)
        ):
            decided[school.id] = facts(day, columns(summary.results))
        else:
            todo.append(school)
    fresh = decide(todo, {school.id: day for school in todo}, rules, report.now)
    summaries = []
    for found in fresh:
        decided[found.school.id] = found.facts
        if day < today[found.school.id]:
            summaries.append(
                {
                    "school_id": found.school.id,
                    "day": day,
                    "generation": found.school.generation,
                    "version": versions.get(found.school.id, 0),
                    "results": encode(found.facts, found.table),
                    "computed_at": clock.now(),
                }
            )
    if summaries:
        db.session.execute(
            delete(DaySummary).where(
                DaySummary.day == day,
                DaySummary.school_id.in_([s["school_id"] for s in summaries]),
            )
        )
        db.session.execute(insert(DaySummary), summaries)
    chunk.status, chunk.source = CHUNK_DONE, "computed"
    chunk.results = {
        "format": FORMAT,
        "schools": {str(school_id): _compact(f) for school_id, f in decided.items()},
    }
    chunk.error, chunk.lease_until = None, None
    db.session.flush()


def _compact(f: presence.DayFacts) -> dict[str, Any]:
    """What the final step needs of a school's date: who is enrolled, and which of them are
    present, excused and late (flags over the enrolled, in id order)."""
    users = sorted(f.enrolled)
    return {
        "enrolled": users,
        "present": [int(u in f.present) for u in users],
        "excused": [int(u in f.excused) for u in users],
        "late": None if f.late is None else [int(u in f.late) for u in users],
    }


def _facts(day: dt.date, stored: dict[str, Any]) -> presence.DayFacts:
    users = stored["enrolled"]

    def members(flags: list[int]) -> frozenset[int]:
        return frozenset(u for u, flag in zip(users, flags, strict=True) if flag)

    late = stored["late"]
    return presence.DayFacts(
        day=day,
        enrolled=frozenset(users),
        present=members(stored["present"]),
        excused=members(stored["excused"]),
        late=None if late is None else members(late),
        total_us={},
    )


def finalize(report: Report) -> str:
    """Combine each school's dates and sum the schools into the finished document."""
    stored: dict[dt.date, Any] = dict(
        db.session.execute(
            select(ReportChunk.day, ReportChunk.results).where(ReportChunk.report_id == report.id)
        ).all()
    )
    # The schools of every chunk (one created meanwhile is in none of the earlier ones).
    ids = set.intersection(*(set(results["schools"]) for results in stored.values()))
    per_school = []
    for school in all_schools():
        if str(school.id) not in ids:
            continue
        rules = rules_for(school)
        days = {
            day: _facts(day, results["schools"][str(school.id)]) for day, results in stored.items()
        }
        figures = presence.combine(
            days, report.start, report.end, report.granularity, rules, report.now
        )
        today = presence.local_today(report.now, school.timezone)
        per_school.append((school.id, school.name, rules, today, figures))
    report.result = district_document(report.start, report.end, report.granularity, per_school)
    report.status = REPORT_FINISHED
    report.finished_at = clock.now()
    report.inflight_key = None
    db.session.flush()
    return report.status
