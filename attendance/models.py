"""SQLAlchemy models shared by the API, the dashboard and the jobs."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    Time,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .db_types import BigId, UTCDateTime, now_default, one_of
from .extensions import Model
from .presence import ABSENT, CLEARED, EVENT_TYPES, PRESENT, is_fever

# Registered on the same metadata, so migrations and tests see them.
from .roll_call_models import RollCall, RollCallEntry, RollCallExpected  # noqa: F401
from .security.models import Admin, ApiToken  # noqa: F401
from .webhook_models import DayClose, Webhook, WebhookDelivery  # noqa: F401

DEFAULT_SCHOOL_DAYS = [1, 2, 3, 4, 5]


class School(Model):
    __tablename__ = "schools"
    __table_args__ = (
        CheckConstraint("min_daily_hours > 0 AND min_daily_hours <= 24", name="min_daily_hours"),
        CheckConstraint("period_ratio >= 0 AND period_ratio < 1", name="period_ratio"),
        CheckConstraint("chronic_ratio > 0 AND chronic_ratio <= 1", name="chronic_ratio"),
        CheckConstraint("chronic_min_days >= 1", name="chronic_min_days"),
        CheckConstraint("alert_streak_days >= 1", name="alert_streak_days"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    school_days: Mapped[list[int]] = mapped_column(JSON, default=lambda: list(DEFAULT_SCHOOL_DAYS))
    min_daily_hours: Mapped[Decimal] = mapped_column(Numeric(5, 2), default=Decimal(4))
    period_ratio: Mapped[Decimal] = mapped_column(Numeric(4, 3), default=Decimal("0.8"))
    fever_threshold: Mapped[Decimal] = mapped_column(Numeric(4, 1), default=Decimal("37.5"))
    # School life (presence.md section 7 and 8): local wall times, None is off.
    day_end: Mapped[dt.time | None] = mapped_column(Time)
    late_after: Mapped[dt.time | None] = mapped_column(Time)
    chronic_ratio: Mapped[Decimal] = mapped_column(Numeric(3, 2), default=Decimal("0.1"))
    chronic_min_days: Mapped[int] = mapped_column(Integer, default=10)
    # Alerts (docs/webhooks.md): the absence streak that is news, and the month-day ("MM-DD")
    # on which the school year, over which chronic absence is counted, starts.
    alert_streak_days: Mapped[int] = mapped_column(Integer, default=3)
    year_start: Mapped[str] = mapped_column(String(5), default="09-01")
    # Bumped whenever a setting, closure or enrolment changes: cached figures of older
    # generations are stale.
    generation: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_default)
    updated_at: Mapped[dt.datetime] = mapped_column(
        UTCDateTime, default=now_default, onupdate=now_default
    )

    closures: Mapped[list[Closure]] = relationship(
        back_populates="school", cascade="all, delete-orphan", order_by="Closure.date"
    )


class Closure(Model):
    """A date on which a school is shut (a holiday)."""

    __tablename__ = "closures"
    __table_args__ = (UniqueConstraint("school_id", "date"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id", ondelete="CASCADE"))
    date: Mapped[dt.date] = mapped_column(Date)
    name: Mapped[str | None] = mapped_column(String(200))

    school: Mapped[School] = relationship(back_populates="closures")


class User(Model):
    """A pupil or member of staff; archived, never deleted, so history stays whole."""

    __tablename__ = "users"
    # The school's own pupil number is unique within the school (NULLs do not clash). An
    # index rather than a constraint: SQLite adds one to an existing table without a rebuild.
    __table_args__ = (
        Index("uq_users_school_id_external_id", "school_id", "external_id", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    school_id: Mapped[int] = mapped_column(
        ForeignKey("schools.id", ondelete="RESTRICT"), index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_default)
    updated_at: Mapped[dt.datetime] = mapped_column(
        UTCDateTime, default=now_default, onupdate=now_default
    )
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    external_id: Mapped[str | None] = mapped_column(String(64))
    group: Mapped[str | None] = mapped_column(String(64))

    school: Mapped[School] = relationship()
    enrolments: Mapped[list[Enrolment]] = relationship(
        back_populates="user", order_by="Enrolment.id", viewonly=True
    )


class Enrolment(Model):
    """A span of school-local dates during which a user is counted at a school (presence.md 5).

    `from` and `until` are inclusive; None is open (since always, still enrolled). A span
    whose `until` is before its `from` covers no date (what archiving leaves of a span
    that had not started).
    """

    __tablename__ = "enrolments"
    __table_args__ = (
        # "Who is enrolled at school S on dates D1..D2": by school, then the span.
        Index("ix_enrolments_school_id_from_until", "school_id", "from", "until"),
        # "Has this user an enrolment at this school" (every event's check).
        Index("ix_enrolments_user_id_school_id", "user_id", "school_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id", ondelete="RESTRICT"))
    from_: Mapped[dt.date | None] = mapped_column("from", Date)
    until: Mapped[dt.date | None] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_default)

    user: Mapped[User] = relationship(back_populates="enrolments")


# The statuses a mark entry may have (presence.md 3): their home is presence.
MARK_PRESENT, MARK_ABSENT, MARK_CLEARED = PRESENT, ABSENT, CLEARED


class Mark(Model):
    """One entry of an admin's mark history for one user on one local date (presence.md 3).

    Append-only: a later entry (higher id) for the same user and date supersedes the
    earlier ones, and a `cleared` entry leaves no effective mark.
    """

    __tablename__ = "marks"
    __table_args__ = (
        CheckConstraint("status IN ('present', 'absent', 'cleared')", name="status"),
        CheckConstraint("NOT excused OR status = 'absent'", name="excused"),
        Index("ix_marks_school_id_date", "school_id", "date"),
        Index("ix_marks_user_id_date_id", "user_id", "date", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id", ondelete="RESTRICT"))
    date: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(8))
    reason: Mapped[str | None] = mapped_column(String(200))
    excused: Mapped[bool] = mapped_column(Boolean, default=False)
    # Who recorded it: "token:<api token id>" or "admin:<admin id>".
    created_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_default)


class Attendance(Model):
    """One check-in or check-out of one user at one school, stored as sent.

    On PostgreSQL the table is partitioned by UTC month of `timestamp`
    (services/partitions.py), so its primary key is `(id, timestamp)`: a partitioned
    table's unique keys contain the partition key. The ids still come from one sequence
    and are unique on their own; the ORM knows an event by its id alone. SQLite keeps the
    plain table of before, `id` alone its (rowid) key. An idempotency key's uniqueness,
    which the partitions cannot hold, is kept by `AttendanceKey`.
    """

    __tablename__ = "attendances"
    __table_args__ = (
        one_of("type", EVENT_TYPES, name="type"),
        CheckConstraint("temperature >= 28 AND temperature <= 43", name="temperature"),
        Index("ix_attendances_school_id_timestamp", "school_id", "timestamp"),
        Index("ix_attendances_user_id_timestamp", "user_id", "timestamp"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id", ondelete="RESTRICT"))
    type: Mapped[str] = mapped_column(String(8))
    timestamp: Mapped[dt.datetime] = mapped_column(UTCDateTime, primary_key=True)
    temperature: Mapped[Decimal] = mapped_column(Numeric(5, 2))
    image: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_default)
    idempotency_key: Mapped[str | None] = mapped_column(String(200))

    user: Mapped[User] = relationship()
    school: Mapped[School] = relationship()

    __mapper_args__ = {"primary_key": [id]}

    @property
    def fever(self) -> bool:
        """True when the temperature reaches the school's fever threshold."""
        return is_fever(self.temperature, self.school.fever_threshold)


class AttendanceKey(Model):
    """An idempotency key taken at a school, and the event stored under it.

    One row per event that has a key, written in the same statement or transaction as
    the event and deleted with it: its primary key is what makes a key's retry find the
    first event instead of storing a second one. `timestamp` is the event's, so that the
    look-up of the stored event reads one partition.
    """

    __tablename__ = "attendance_keys"

    school_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    attendance_id: Mapped[int] = mapped_column(BigInteger)
    timestamp: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class DayVersion(Model):
    """How many times a school's local date has changed; cached figures record the one they saw."""

    __tablename__ = "day_versions"

    school_id: Mapped[int] = mapped_column(
        ForeignKey("schools.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=1)


REPORT_QUEUED = "queued"
REPORT_RUNNING = "running"
REPORT_FINISHED = "finished"
REPORT_FAILED = "failed"
CHUNK_PENDING = "pending"
CHUNK_RUNNING = "running"
CHUNK_DONE = "done"
CHUNK_FAILED = "failed"


class Report(Model):
    """A requested aggregation: the record of its progress and, once finished, its figures."""

    __tablename__ = "reports"
    __table_args__ = (
        Index("ix_reports_school_id_created_at", "school_id", "created_at"),
        Index("ix_reports_lookup", "school_id", "start", "end", "granularity", "fingerprint"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    # None: a district report (every school; attendance/services/reports/district.py).
    school_id: Mapped[int | None] = mapped_column(ForeignKey("schools.id", ondelete="CASCADE"))
    start: Mapped[dt.date] = mapped_column(Date)
    end: Mapped[dt.date] = mapped_column(Date)
    granularity: Mapped[str] = mapped_column(String(8))
    # The instant the figures are computed as of (presence.md's `now`); also `generated_at`.
    now: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(10), default=REPORT_QUEUED)
    # Set while queued or running, so identical concurrent requests find one computation.
    inflight_key: Mapped[str | None] = mapped_column(String(120), unique=True)
    # The school's generation and day versions the inputs had: equal fingerprints, equal figures.
    fingerprint: Mapped[str | None] = mapped_column(String(64))
    # `&group=`: the figures are of the users whose group this is now (None: the school's).
    group: Mapped[str | None] = mapped_column(String(64))
    # `&users=true`: the document lists each counted user's figures.
    with_users: Mapped[bool] = mapped_column(Boolean, default=False)
    chunks_total: Mapped[int] = mapped_column(Integer, default=0)
    rescues: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    # Large documents, deferred: loaded only where read.
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, deferred=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_default)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    chunks: Mapped[list[ReportChunk]] = relationship(
        back_populates="report", cascade="all, delete-orphan", order_by="ReportChunk.day"
    )


class ReportChunk(Model):
    """One local date of one report: computed by a job, or taken from the day cache."""

    __tablename__ = "report_chunks"

    report_id: Mapped[str] = mapped_column(
        ForeignKey("reports.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    status: Mapped[str] = mapped_column(String(10), default=CHUNK_PENDING)
    source: Mapped[str | None] = mapped_column(String(10))  # computed | cache | future
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # A running chunk whose lease has passed lost its worker: the reaper runs it again.
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(Text)
    results: Mapped[Any] = mapped_column(JSON, nullable=True, deferred=True)
    updated_at: Mapped[dt.datetime] = mapped_column(
        UTCDateTime, default=now_default, onupdate=now_default
    )

    report: Mapped[Report] = relationship(back_populates="chunks")


class DaySummary(Model):
    """The per-day cache: a finished past day's per-user results, valid while its inputs are."""

    __tablename__ = "day_summaries"

    school_id: Mapped[int] = mapped_column(
        ForeignKey("schools.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    generation: Mapped[int] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer)
    results: Mapped[Any] = mapped_column(JSON, nullable=False, deferred=True)
    computed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_default)
