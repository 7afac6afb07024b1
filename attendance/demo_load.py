"""Loading generated demo data: schools and users first, then the events, in bulk or over HTTP.

Like a job, this module commits (after each batch); the services it calls only flush.
Reruns with the same seed add nothing: schools and users are found again by name, and
events carry deterministic idempotency keys.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text

from . import clock
from .demo import SchoolPlan, count_estimate, generate_school_events, school_plans, user_names
from .extensions import db
from .services import bulk
from .services.daycache import local_day
from .services.demo_data import ensure_school, ensure_users

DB_BATCH = 20_000  # events per COPY and commit
MAX_DAYS = 366
MAX_USERS = 20_000  # per school


@dataclass(frozen=True)
class DemoSpec:
    """What to generate: schools, users per school, a range of local dates, a seed."""

    schools: int
    users: int
    start: dt.date
    end: dt.date
    timezones: Sequence[str] = ("UTC",)
    seed: int = 1

    def check(self) -> None:
        """Refuse a spec that is empty or unreasonably large."""
        if not 1 <= self.schools <= 1000:
            raise ValueError("schools must be between 1 and 1000")
        if not 1 <= self.users <= MAX_USERS:
            raise ValueError(f"users must be between 1 and {MAX_USERS}")
        if self.end < self.start:
            raise ValueError("the end date is before the start date")
        if (self.end - self.start).days >= MAX_DAYS:
            raise ValueError(f"the date range must not exceed {MAX_DAYS} days")

    def plans(self) -> list[SchoolPlan]:
        """The generator's plan of each school."""
        return school_plans(self.schools, self.timezones, self.seed)

    def estimate(self) -> int:
        """Roughly how many events the spec makes (for progress bars)."""
        weekdays = sum(
            1
            for n in range((self.end - self.start).days + 1)
            if (self.start + dt.timedelta(days=n)).isoweekday() <= 5
        )
        return count_estimate(self.users, weekdays) * self.schools


@dataclass(frozen=True)
class DemoSchool:
    """A school as stored: its plan, index in the spec, id and user ids (by user key)."""

    index: int
    plan: SchoolPlan
    id: int
    user_ids: Sequence[int]


@dataclass
class LoadReport:
    """What a load did."""

    written: int = 0  # new events stored
    duplicates: int = 0  # events already stored (a rerun)
    errors: int = 0
    seconds: float = 0.0
    messages: list[str] = field(default_factory=list)  # the first few error messages

    @property
    def rate(self) -> float:
        """New events per second."""
        return self.written / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        """The one-line summary both modes end with."""
        return (
            f"{self.written} events written ({self.duplicates} already there) in "
            f"{self.seconds:.1f} s = {self.rate:.0f} events/s, {self.errors} errors"
        )


def prepare(spec: DemoSpec) -> list[DemoSchool]:
    """Create (or find) the spec's schools, closures and users; commits."""
    spec.check()
    schools = []
    for index, plan in enumerate(spec.plans()):
        school_id = ensure_school(plan, spec.start, spec.end).id
        user_ids = ensure_users(school_id, user_names(spec.users, spec.seed, index))
        # Commit last and touch no row after: on SQLite a new transaction would hold the
        # write lock while the HTTP mode waits on the server.
        db.session.commit()
        schools.append(DemoSchool(index, plan, school_id, user_ids))
    return schools


def school_events(
    spec: DemoSpec, school: DemoSchool, now: dt.datetime
) -> Iterator[tuple[DemoSchool, bulk.Row]]:
    """The school's generated events as rows, up to `now` (never in the future)."""
    for event in generate_school_events(
        school.plan, spec.users, spec.start, spec.end, spec.seed, school.index, now=now
    ):
        yield (
            school,
            bulk.Row(
                user_id=school.user_ids[event.user_key],
                school_id=school.id,
                type=event.type,
                timestamp=event.timestamp,
                temperature=event.temperature,
                image=None,
                received_at=event.timestamp,  # as if every device had been online
                idempotency_key=event.client_event_id,
            ),
        )


def all_events(
    spec: DemoSpec, schools: Sequence[DemoSchool], now: dt.datetime
) -> Iterator[tuple[DemoSchool, bulk.Row]]:
    """Every school's events, school after school."""
    for school in schools:
        yield from school_events(spec, school, now)


def load_db(
    spec: DemoSpec,
    schools: Sequence[DemoSchool],
    *,
    now: dt.datetime | None = None,
    batch: int = DB_BATCH,
    progress: bool = False,
) -> LoadReport:
    """Write the events straight into the database (COPY on PostgreSQL); commits per batch."""
    started = time.perf_counter()
    timezones = {s.id: s.plan.timezone for s in schools}
    report = LoadReport()
    bar = _bar(spec.estimate(), progress)
    rows: list[bulk.Row] = []

    def flush() -> None:
        written = bulk.copy_rows(rows, timezones)
        db.session.commit()
        report.written += written
        report.duplicates += len(rows) - written
        if bar is not None:
            bar.update(len(rows))
        rows.clear()

    for _, row in all_events(spec, schools, now or clock.now()):
        # A full batch is written at the end of a school day, so each transaction bumps
        # every day version it touches exactly once.
        if len(rows) >= batch and _day(rows[-1], timezones) != _day(row, timezones):
            flush()
        rows.append(row)
    flush()
    if report.written and db.session.get_bind().dialect.name == "postgresql":
        # Fresh statistics: until autovacuum gets to it, the planner would take a school
        # with thousands of new rows for one with a handful.
        db.session.execute(text("ANALYZE attendances"))
        db.session.commit()
    if bar is not None:
        bar.close()
    report.seconds = time.perf_counter() - started
    return report


def _day(row: bulk.Row, timezones: dict[int, str]) -> tuple[int, dt.date]:
    return row.school_id, local_day(timezones[row.school_id], row.timestamp)


def _bar(total: int, enabled: bool) -> Any:
    """A tqdm progress bar on stderr, or None."""
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="ev", dynamic_ncols=True, leave=False)
