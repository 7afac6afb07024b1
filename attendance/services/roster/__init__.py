"""Roster import and export: one engine behind the CLI, the API and the dashboard.

`run` reads a roster (parse), decides each row's outcome (plan) and, unless it is a dry
run, carries it out (apply), a chunk of rows at a time: the file is streamed and the
database is asked once per chunk. It flushes, never commits; a caller that wants all or
nothing rolls back when the report has invalid rows. See docs/rosters.md.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import IO

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ... import clock
from ...extensions import db
from ...models import School, User
from .. import enrolments as spans
from .. import users
from .apply import apply
from .parse import COLUMNS, RosterFileError, Row, read_rows
from .plan import Planner
from .report import ARCHIVED, Report, RowResult

__all__ = [
    "COLUMNS",
    "Options",
    "Report",
    "RosterFileError",
    "csv_lines",
    "export_rows",
    "filename",
    "run",
]

CHUNK_ROWS = 2000


@dataclass(frozen=True)
class Options:
    """How to import: `dry_run` writes nothing; `archive_missing` archives who the file omits."""

    dry_run: bool = False
    archive_missing: bool = False


def run(
    stream: IO[bytes],
    school: School,
    options: Options,
    *,
    may_act_for: Callable[[int], bool] = lambda school_id: True,
    on_bytes: Callable[[int], None] | None = None,
    now: dt.datetime | None = None,
) -> Report:
    """Import a roster into `school` (rows may name other schools in a `school` column).

    Raises RosterFileError when the file as a whole is unreadable (not UTF-8, no
    external_id column, an unclosed quote): what a chunk has applied is then the caller's
    to roll back.
    """
    now = now or clock.now()
    report = Report(dry_run=options.dry_run)
    try:
        columns, rows = read_rows(stream, on_bytes)
        planner = Planner(school, columns, may_act_for, now)
        for chunk in _chunks(rows):
            planned = planner.plan(chunk)
            for result, _ in planned:
                report.add(result)
            if not options.dry_run:
                apply([action for _, action in planned if action is not None], now)
        if options.archive_missing:
            _archive_missing(school, planner.seen, report, options.dry_run, now)
    except BaseException:
        report.close()
        raise
    return report


def _chunks(rows: Iterator[Row]) -> Iterator[list[Row]]:
    while chunk := list(itertools.islice(rows, CHUNK_ROWS)):
        yield chunk


def _archive_missing(
    school: School, seen: Callable[[str], bool], report: Report, dry_run: bool, now: dt.datetime
) -> None:
    """Archive the school's listed pupils whose external_id the file does not have.

    Pupils without an external_id are left alone: a roster cannot name them. The pupils
    are read a page at a time (by external_id, unique within a school), and only those
    to archive are loaded whole.
    """
    listed = users.listed_users(now=now).where(
        User.school_id == school.id, User.external_id.is_not(None)
    )
    page_query = listed.with_only_columns(User.id, User.external_id).order_by(User.external_id)
    page = db.session.execute(page_query.limit(CHUNK_ROWS)).all()
    while page:
        missing = [(row.id, row.external_id) for row in page if not seen(row.external_id)]
        for _, external_id in missing:
            report.add(RowResult(None, external_id, ARCHIVED))
        if not dry_run and missing:
            query = select(User).where(User.id.in_([user_id for user_id, _ in missing]))
            for user in db.session.scalars(query.order_by(User.external_id)):
                users.archive_user(user, now)
        after = page_query.where(User.external_id > page[-1].external_id)
        page = db.session.execute(after.limit(CHUNK_ROWS)).all()


def export_rows(school: School, now: dt.datetime | None = None) -> Iterator[list[str]]:
    """The roster of the school's pupils enrolled today or later: a header, then one row each.

    The same columns an import reads, so that importing an export changes nothing. Pupils
    without an external_id are left out (a roster names pupils by it).
    """
    yield list(COLUMNS)
    today = spans.school_today(school, now)
    query = (
        users.listed_users(now=now)
        .where(User.school_id == school.id, User.external_id.is_not(None))
        .options(selectinload(User.enrolments))
        .order_by(User.external_id, User.id)
        .execution_options(yield_per=1000)
    )
    for user in db.session.scalars(query):
        # The span the API shows: the current enrolment's, else the latest's.
        enrolment = spans.current(user.enrolments, school.id, today)
        first, last = (None, None) if enrolment is None else (enrolment.from_, enrolment.until)
        cells = (user.external_id, user.name, user.group, first, last)
        yield ["" if v is None else v.isoformat() if isinstance(v, dt.date) else v for v in cells]


def csv_lines(rows: Iterable[list[str]], batch: int = 500) -> Iterator[str]:
    """Rows as CSV text (UTF-8 when encoded, `,`, CRLF), a few hundred rows per piece."""
    out = io.StringIO()
    writer = csv.writer(out)
    for count, row in enumerate(rows, start=1):
        writer.writerow(row)
        if count % batch == 0:
            yield out.getvalue()
            out.seek(0)
            out.truncate()
    if out.tell():
        yield out.getvalue()


def filename(school: School) -> str:
    """roster-<school>-<id>.csv, safe in a header."""
    slug = re.sub(r"[^a-z0-9]+", "-", school.name.lower()).strip("-")[:40] or "school"
    return f"roster-{slug}-{school.id}.csv"
