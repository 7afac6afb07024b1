"""The demo's store: generated schools and users through the services, events in bulk.

Like a job, this module commits (after each batch); the services it calls only flush.
Reruns with the same seed add nothing: schools and users are found again by name, and
events carry deterministic idempotency keys. Both loaders start here: `prepare` stores
the schools and users, then `load_db` writes the events (COPY on PostgreSQL) or the HTTP
loader (`load_http`) posts the rows of `all_events` to a running server.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from sqlalchemy import exists, insert, select, text

from .. import clock
from ..extensions import db
from ..models import Enrolment, School, User
from ..presence import is_fever, local_date
from ..security import admins, images
from ..security.roles import DISTRICT, SCHOOL
from ..services import bulk, marks
from ..services.schools import add_closure, bump_generation, create_school
from .generate import (
    PUBLIC_HOLIDAYS,
    DemoSpec,
    PupilPlan,
    SchoolPlan,
    avatar_png,
    generate_school_events,
    generate_school_marks,
    pupil_plans,
    user_names,
)

DB_BATCH = 20_000  # events per COPY and commit
HOLIDAY_NAMES = dict(
    zip(PUBLIC_HOLIDAYS, ("New Year's Day", "Labour Day", "Christmas Day"), strict=True)
)
DEMO_PASSWORD = "attendance-demo"  # noqa: S105 - development only (the quick demo refuses production)
DEMO_ADMINS = (("demo@example.org", DISTRICT), ("head@example.org", SCHOOL))


@dataclass(frozen=True)
class DemoSchool:
    """A school as stored: its plan, index in the spec, id, user ids and pupils (by user key)."""

    index: int
    plan: SchoolPlan
    id: int
    user_ids: Sequence[int]
    fever_threshold: Decimal
    pupils: Sequence[PupilPlan] = ()


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
        """The one-line summary both loaders end with."""
        return (
            f"{self.written} events written ({self.duplicates} already there) in "
            f"{self.seconds:.1f} s = {self.rate:.0f} events/s, {self.errors} errors"
        )


def is_empty() -> bool:
    """True when there is no school yet."""
    return not db.session.scalar(select(exists().where(School.id.is_not(None))))


def ensure_school(plan: SchoolPlan, start: dt.date, end: dt.date) -> School:
    """The plan's school (by name and timezone), created if missing, with its closures in range."""
    school = db.session.scalar(
        select(School)
        .where(School.name == plan.name, School.timezone == plan.timezone)
        .order_by(School.id)
        .limit(1)
    )
    if school is None:
        school = create_school(
            {
                "name": plan.name,
                "timezone": plan.timezone,
                "school_days": list(plan.school_days),
                "day_end": plan.day_end,
                "late_after": plan.late_after,
            }
        )
    for day in sorted(d for d in plan.closures if start <= d <= end):
        add_closure(school, day, HOLIDAY_NAMES.get((day.month, day.day), "Staff training day"))
    return school


def ensure_users(
    school_id: int, names: Sequence[str], pupils: Sequence[PupilPlan] | None = None
) -> list[int]:
    """The ids of the school's active users with these names, enrolling the missing ones.

    With `pupils` (by the names' order), a new user gets its pupil number, class and
    enrolment span; without, no number or class, enrolled since always.
    """
    rows = db.session.execute(
        select(User.name, User.id)
        .where(User.school_id == school_id, User.deleted_at.is_(None))
        .order_by(User.id)
    )
    ids: dict[str, int] = {}
    for name, ident in rows:
        ids.setdefault(name, ident)
    missing = [(key, name) for key, name in enumerate(names) if name not in ids]
    if missing:
        plans = {key: pupils[key] if pupils else None for key, _ in missing}
        stmt = insert(User).returning(User.id, sort_by_parameter_order=True)
        new_ids = list(
            db.session.scalars(
                stmt,
                [
                    {
                        "name": name,
                        "school_id": school_id,
                        "external_id": plan.external_id if (plan := plans[key]) else None,
                        "group": plan.group if plan else None,
                    }
                    for key, name in missing
                ],
            )
        )
        ids.update(zip((name for _, name in missing), new_ids, strict=True))
        # The bulk path of enrolments.open_enrolment: the generation bump below stands
        # for its per-day invalidation.
        db.session.execute(
            insert(Enrolment),
            [
                {
                    "user_id": ident,
                    "school_id": school_id,
                    "from_": plan.enrolled_from if (plan := plans[key]) else None,
                    "until": plan.enrolled_until if plan else None,
                }
                for (key, _), ident in zip(missing, new_ids, strict=True)
            ],
        )
        bump_generation(school_id)
    return [ids[name] for name in names]


def prepare(spec: DemoSpec, closures_until: dt.date | None = None) -> list[DemoSchool]:
    """Create (or find) the spec's schools, closures and users; commits.

    Closures are stored from the spec's start to `closures_until` (default: its end).
    """
    spec.check()
    schools = []
    for index, plan in enumerate(spec.plans()):
        school = ensure_school(plan, spec.start, closures_until or spec.end)
        pupils = pupil_plans(spec.users, spec.start, spec.end, spec.seed, index)
        names = user_names(spec.users, spec.seed, index)
        user_ids = ensure_users(school.id, names, pupils)
        demo_school = DemoSchool(index, plan, school.id, user_ids, school.fever_threshold, pupils)
        # Commit last and touch no row after: on SQLite a new transaction would hold the
        # write lock while the HTTP loader waits on the server.
        db.session.commit()
        schools.append(demo_school)
    return schools


def school_events(
    spec: DemoSpec, school: DemoSchool, now: dt.datetime
) -> Iterator[tuple[DemoSchool, bulk.Row]]:
    """The school's generated events as rows, up to `now` (never in the future)."""
    for event in generate_school_events(
        school.plan,
        spec.users,
        spec.start,
        spec.end,
        spec.seed,
        school.index,
        now=now,
        pupils=school.pupils or None,
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
    photos: bool = False,
) -> LoadReport:
    """Write the events straight into the database (COPY on PostgreSQL); commits per batch.

    With `photos`, a fever's event keeps a stand-in photo (gates photograph everybody;
    the demo keeps the fevers' only).
    """
    started = time.perf_counter()
    timezones = {s.id: s.plan.timezone for s in schools}
    report = LoadReport()
    bar = progress_bar(spec.estimate()) if progress else None
    rows: list[bulk.Row] = []

    def flush() -> None:
        # The bulk path bumps the version of every date it adds to: a report cache that
        # has figures for one of them must not keep serving them.
        written = bulk.copy_rows(rows, timezones)
        db.session.commit()
        report.written += written
        report.duplicates += len(rows) - written
        if bar is not None:
            bar.update(len(rows))
        rows.clear()

    for school, row in all_events(spec, schools, now or clock.now()):
        # A full batch is written at the end of a school day, so each transaction bumps
        # every day version it touches exactly once.
        if len(rows) >= batch and _day(rows[-1], timezones) != _day(row, timezones):
            flush()
        if photos and is_fever(row.temperature, school.fever_threshold):
            row = replace(row, image=_photo(f"{spec.seed}:{school.index}:{row.user_id}"))
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


def load_marks(
    spec: DemoSpec, schools: Sequence[DemoSchool], created_by: str, now: dt.datetime
) -> int:
    """Record the generated marks through the marks service (which bumps their dates'
    versions), as `created_by`; commits. Returns how many mark entries were stored."""
    stored = 0
    for demo in schools:
        school = db.session.get_one(School, demo.id)
        today = local_date(now, school.timezone)
        for mark in generate_school_marks(
            demo.plan, demo.pupils, spec.start, spec.end, spec.seed, demo.index, today
        ):
            data: dict[str, Any] = {
                "user_id": demo.user_ids[mark.user_key],
                "status": mark.status,
                "excused": mark.excused,
                "reason": mark.reason,
            }
            if mark.first == mark.last:
                data["date"] = mark.first
            else:
                data["from_"], data["to"] = mark.first, mark.last
            stored += len(marks.record(school, data, created_by, now))
        db.session.commit()
    return stored


def _photo(seed: str) -> str:
    """A stored stand-in photo (the reference an attendance keeps)."""
    return images.save(images.Upload(avatar_png(seed)))


def _day(row: bulk.Row, timezones: dict[int, str]) -> tuple[int, dt.date]:
    return row.school_id, local_date(row.timestamp, timezones[row.school_id])


def progress_bar(total: int | None) -> Any:
    """A tqdm progress bar of events on stderr (both loaders')."""
    from tqdm import tqdm

    return tqdm(total=total, unit="ev", dynamic_ncols=True, leave=False)


def demo_creator() -> str:
    """How a mark names the district demo admin (see `demo_admins`) as its author."""
    admin = admins.find_by_email(DEMO_ADMINS[0][0])
    if admin is None:
        raise LookupError("the demo admins are not there yet")
    return marks.creator(None, admin.id)


def demo_admins() -> list[tuple[str, str, int | None]]:
    """The demo accounts, created or reset to DEMO_PASSWORD: (email, role, school id)."""
    first = db.session.scalar(select(School.id).order_by(School.name, School.id).limit(1))
    accounts = []
    for email, role in DEMO_ADMINS:
        school_id = None if role == DISTRICT else first
        if school_id is None and role != DISTRICT:
            continue
        admin = admins.find_by_email(email)
        if admin is None:
            admin = admins.create_admin(email, DEMO_PASSWORD, role, school_id)
        else:
            admins.set_password(admin, DEMO_PASSWORD)
            admins.set_disabled(admin, False)
        accounts.append((admin.email, admin.role, admin.school_id))
    return accounts
