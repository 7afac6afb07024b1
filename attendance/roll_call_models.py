"""Roll calls: who was in the building when the alarm rang, and who has been accounted for.

Registered on the models' metadata by `attendance.models`; imports nothing of the package but
the extension and the column types, so that `models` can import it.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .db_types import UTCDateTime, now_default
from .extensions import Model

# One open roll call per school: a second start finds it instead of making another. A
# partial unique index, which both PostgreSQL and SQLite have.
OPEN_PER_SCHOOL = Index(
    "uq_roll_calls_open_school_id",
    "school_id",
    unique=True,
    postgresql_where="closed_at IS NULL",
    sqlite_where="closed_at IS NULL",
)


class RollCall(Model):
    """An emergency roll call at one school: open from `started_at` until `closed_at`."""

    __tablename__ = "roll_calls"
    __table_args__ = (
        OPEN_PER_SCHOOL,
        Index("ix_roll_calls_school_id_started_at", "school_id", "started_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # A roll call is a record of its school: it goes when the school goes.
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id", ondelete="CASCADE"))
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_default)
    # Who started and closed it: "token:<id>" or "admin:<id>" (as marks say).
    started_by: Mapped[str] = mapped_column(String(32))
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    closed_by: Mapped[str | None] = mapped_column(String(32))

    @property
    def is_open(self) -> bool:
        """True until the roll call is closed."""
        return self.closed_at is None


class RollCallExpected(Model):
    """One pupil checked in when the roll call started: its expected list, fixed then."""

    __tablename__ = "roll_call_expected"

    roll_call_id: Mapped[int] = mapped_column(
        ForeignKey("roll_calls.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="RESTRICT"), primary_key=True
    )


class RollCallEntry(Model):
    """One tick (or its undoing) of one pupil, append-only: for a pupil, the entry with the
    latest `at` (then the highest id) decides whether they are accounted for."""

    __tablename__ = "roll_call_entries"
    __table_args__ = (
        # A phone resending what it sent before (offline, a lost answer) adds nothing.
        UniqueConstraint("roll_call_id", "client_event_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    roll_call_id: Mapped[int] = mapped_column(ForeignKey("roll_calls.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    client_event_id: Mapped[str] = mapped_column(String(200))
    # The phone's time of the tick (the time received when it gave none).
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # False: the entry takes an earlier tick back.
    accounted: Mapped[bool] = mapped_column(Boolean)
    created_by: Mapped[str] = mapped_column(String(32))
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_default)

    @property
    def undo(self) -> bool:
        """True for an entry that takes a tick back."""
        return not self.accounted
