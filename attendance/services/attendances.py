"""Recording and reading attendance events."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Select,
    Table,
    and_,
    bindparam,
    delete,
    exists,
    insert,
    literal_column,
    select,
)

from .. import clock
from ..dbsetup import autocommit_connection, drop_autocommit_connection
from ..extensions import db
from ..inputs import MAX_FUTURE
from ..models import Attendance, AttendanceKey, Enrolment, School
from ..presence import is_fever, local_date
from ..security import images
from ..signals import attendances_recorded
from . import ServiceError, dialect
from .daycache import invalidate_days, still_open


def check_event(
    data: Mapping[str, Any],
    *,
    school_found: bool,
    enrolled: bool,
    received_at: dt.datetime,
) -> None:
    """Refuse an event that breaks a rule (one event or a batch: the same rules and messages).

    `enrolled`: the user named by `data["user_id"]` exists and has an enrolment at the
    school, past, present or future. Archived or moved, a pupil's late-synced events are
    stored (api.md); the figures count only the dates they were enrolled on.
    """
    school_id, user_id = data["school_id"], data["user_id"]
    if not school_found:
        raise ServiceError("school_id", f"school {school_id} does not exist")
    if not enrolled:
        # One message for "no such user" and "another school's user": a school's token
        # must not learn which user ids exist elsewhere.
        raise ServiceError("user_id", f"user {user_id} does not exist in school {school_id}")
    timestamp = data.get("timestamp")
    if timestamp is not None and timestamp > received_at + MAX_FUTURE:
        raise ServiceError("timestamp", "must not be more than 5 minutes in the future")


@dataclass(frozen=True, slots=True)
class Row:
    """One event ready to store: the columns of Attendance but the id, in COLUMNS order."""

    user_id: int
    school_id: int
    type: str
    timestamp: dt.datetime
    temperature: Decimal
    image: str | None
    received_at: dt.datetime
    idempotency_key: str | None

    @classmethod
    def from_event(
        cls, data: Mapping[str, Any], received_at: dt.datetime, key: str | None = None
    ) -> Row:
        """The row of a validated event as sent (one event or a batch's: stored alike).

        An event without a timestamp happened when it arrived; `key` (a request's
        Idempotency-Key) goes before the event's client_event_id.
        """
        return cls(
            user_id=data["user_id"],
            school_id=data["school_id"],
            type=data["type"],
            timestamp=data.get("timestamp") or received_at,
            temperature=data["temperature"],
            image=images.reference(data.get("image")),  # the file once the row is in
            received_at=received_at,
            idempotency_key=key or data.get("client_event_id"),
        )

    @property
    def key(self) -> tuple[int, str] | None:
        """The idempotency key with its scope, the school."""
        return None if self.idempotency_key is None else (self.school_id, self.idempotency_key)

    def as_tuple(self) -> tuple[Any, ...]:
        """The values in COLUMNS order."""
        return (
            self.user_id,
            self.school_id,
            self.type,
            self.timestamp,
            self.temperature,
            self.image,
            self.received_at,
            self.idempotency_key,
        )

    def as_dict(self) -> dict[str, Any]:
        """The values by column name (a statement's parameters)."""
        return dict(zip(COLUMNS, self.as_tuple(), strict=True))


# The columns a stored event is made of, in the order of Row.as_tuple.
COLUMNS = tuple(f.name for f in fields(Row))


@dataclass(frozen=True, slots=True)
class Recorded(Row):
    """A stored event as the API shows it (the attribute names of Attendance)."""

    id: int
    fever: bool

    @classmethod
    def of(cls, event: Attendance) -> Recorded:
        """The view of a loaded event."""
        return cls(*(getattr(event, f) for f in _RECORDED_FIELDS))


_RECORDED_FIELDS = tuple(f.name for f in fields(Recorded))


def record_attendance(data: dict[str, Any], key: str | None = None) -> tuple[Recorded, bool]:
    """Store one event as sent; returns it and whether it is new (False: a retried key).

    On PostgreSQL the usual case is one statement (`_INSERT_PG`): it checks the user
    belongs to the school, takes the event's key in `attendance_keys` (nothing is stored
    when the key is taken), stores the event, and returns the new id with its school's
    fever threshold. An event of a day that is still open, without a photo, is that one
    statement in its own transaction (`_insert_now`); any other event is recorded in the
    session's transaction, with the day-version bump a late event needs (see daycache).
    Only when nothing is stored (a retry, a race, a refusal) does a look-up find out
    why, with the messages of `check_event`.
    """
    received_at = clock.now()
    row = Row.from_event(data, received_at, key)
    if row.timestamp > received_at + MAX_FUTURE:
        return _not_stored(data, row.idempotency_key, received_at), False
    timezone = _timezones.get(row.school_id)
    if (
        timezone is not None
        and row.image is None
        and db.engine.dialect.name == "postgresql"
        and still_open(timezone, local_date(row.timestamp, timezone), received_at)
    ):
        stored = _insert_now(row, timezone)
        if stored is not None:
            attendances_recorded.send(None, count=1)
            return _recorded(data, row, stored[0], stored[1]), True
        # Nothing stored: a retried key, a refusal, or the school's timezone has changed;
        # the transaction below finds out which.
    return _record_in_session(data, row, received_at)


def _record_in_session(
    data: dict[str, Any], row: Row, received_at: dt.datetime
) -> tuple[Recorded, bool]:
    """Record the event in the session's transaction, bumping its day when it is late."""
    stored = _insert_in_session(row)
    if stored is None:
        return _not_stored(data, row.idempotency_key, received_at), False
    # The photo's file is written once the row is in, before the commit shows the row:
    # a refused or repeated event leaves no file behind.
    images.to_stored(data.get("image"))
    ident, timezone, fever_threshold = stored
    _timezones[row.school_id] = timezone
    event = _recorded(data, row, ident, fever_threshold)
    day = local_date(event.timestamp, timezone)
    if not still_open(timezone, day, clock.now()):  # a late event: its day may be cached
        invalidate_days([(event.school_id, day)])
    attendances_recorded.send(None, count=1)
    return event, True


def _recorded(data: Mapping[str, Any], row: Row, ident: int, fever_threshold: Any) -> Recorded:
    """The stored event as answered: what was sent (stored as sent), with its id and fever."""
    values = row.as_dict()
    values["timestamp"] = row.timestamp.astimezone(dt.UTC)
    return Recorded(id=ident, **values, fever=is_fever(data["temperature"], fever_threshold))


# School -> timezone, as last seen by this process: a hint for deciding, before the
# insert, that an event's day is still open. `_insert_now` stores the event only if the
# school's timezone is still the one the decision was made with.
_timezones: dict[int, str] = {}


def _insert_now(row: Row, timezone: str) -> tuple[int, Any] | None:
    """The event in a transaction of its own (one round trip): (id, fever threshold), or
    None when nothing was stored (its key is known, a check failed, or the school's
    timezone is no longer `timezone`).

    psycopg itself, prepared, on the thread's own connection in autocommit
    (dbsetup.autocommit_connection): SQLAlchemy's execution machinery, and then its pool,
    cost more than the statement.
    """
    engine = db.engine
    connection = autocommit_connection(engine)
    params = {**row.as_dict(), "timezone": timezone}
    try:
        result = connection.execute(_INSERT_PG, params, prepare=True).fetchone()
    except Exception:
        drop_autocommit_connection(engine)  # whatever went wrong, not on this one again
        raise
    return None if result is None else (result[0], result[2])


# One statement on PostgreSQL, for psycopg (`_insert_now`) and in the session alike: the
# user's enrolment at the school (and, when `timezone` is given, the school's timezone
# still the one the caller decided with), then the key taken in attendance_keys unless
# another event holds it, then the event, under an id drawn once for both. An event
# without a key takes none. A concurrent statement taking the same key waits for this
# one's transaction, then stores nothing. Returns (id, timezone, fever threshold), or
# no row when nothing was stored.
_INSERT_PG = """
WITH source AS (
    SELECT enrolments.user_id, enrolments.school_id, schools.timezone,
        schools.fever_threshold, nextval('attendances_id_seq') AS id
    FROM enrolments JOIN schools ON schools.id = enrolments.school_id
    WHERE enrolments.user_id = %(user_id)s AND enrolments.school_id = %(school_id)s
        AND (%(timezone)s::varchar IS NULL OR schools.timezone = %(timezone)s::varchar)
    LIMIT 1
), taken AS (
    INSERT INTO attendance_keys (school_id, idempotency_key, attendance_id, timestamp)
    SELECT school_id, %(idempotency_key)s::varchar, id, %(timestamp)s::timestamptz
    FROM source WHERE %(idempotency_key)s::varchar IS NOT NULL
    ON CONFLICT (school_id, idempotency_key) DO NOTHING
    RETURNING attendance_id
), stored AS (
    INSERT INTO attendances
        (id, user_id, school_id, type, timestamp, temperature, image, received_at,
        idempotency_key)
    SELECT id, user_id, school_id, %(type)s, %(timestamp)s::timestamptz, %(temperature)s,
        %(image)s, %(received_at)s, %(idempotency_key)s::varchar
    FROM source
    WHERE %(idempotency_key)s::varchar IS NULL OR id IN (SELECT attendance_id FROM taken)
    RETURNING id
)
SELECT stored.id, source.timezone, source.fever_threshold FROM stored JOIN source USING (id)
"""


def _insert_in_session(row: Row) -> tuple[int, str, Any] | None:
    """Store the event in the session's transaction: (id, timezone, fever threshold), or
    None when nothing was stored (its key is known, or the user is not at the school)."""
    params = {**row.as_dict(), "timezone": None}
    if dialect() == "postgresql":
        connection = db.session.connection()
        stored = connection.exec_driver_sql(_INSERT_PG, params).first()
        return None if stored is None else (stored[0], stored[1], stored[2])
    # SQLite: two statements. Its transactions begin IMMEDIATE (dbsetup), so nobody else
    # can take the key between the check in the first and the second.
    stored = db.session.execute(_INSERT_SQLITE, params).first()
    if stored is None:
        return None
    if row.idempotency_key is not None:
        db.session.execute(
            insert(AttendanceKey),
            {
                "school_id": row.school_id,
                "idempotency_key": row.idempotency_key,
                "attendance_id": stored[0],
                "timestamp": row.timestamp,
            },
        )
    return stored[0], stored[1], stored[2]


def _not_stored(data: dict[str, Any], key: str | None, received_at: dt.datetime) -> Recorded:
    """Why an event was not stored: the event stored under its key, or a ServiceError."""
    row = db.session.execute(
        _LOOK_UP, {"school_id": data["school_id"], "user_id": data["user_id"], "key": key}
    ).first()
    school, enrolled, existing = row if row is not None else (None, False, None)
    if existing is not None:
        return Recorded.of(existing)
    check_event(
        data,
        school_found=school is not None,
        enrolled=bool(enrolled),
        received_at=received_at,
    )
    raise RuntimeError("an event that passes every check was not stored")


# Statements built once: constructing and cache-keying them per request showed in profiles.
_LOOK_UP = (
    select(
        School,
        exists()
        .where(Enrolment.user_id == bindparam("user_id"), Enrolment.school_id == School.id)
        .correlate(School),
        Attendance,
    )
    .outerjoin(
        AttendanceKey,
        and_(
            AttendanceKey.school_id == School.id,
            AttendanceKey.idempotency_key == bindparam("key"),
        ),
    )
    # By id and timestamp: PostgreSQL reads the one partition the event is in.
    .outerjoin(
        Attendance,
        and_(
            Attendance.id == AttendanceKey.attendance_id,
            Attendance.timestamp == AttendanceKey.timestamp,
        ),
    )
    .where(School.id == bindparam("school_id"))
)


def _insert_checked() -> Any:
    """SQLite's INSERT ... SELECT FROM enrolments WHERE the user has one at the school and
    no event holds the key; RETURNING the id, the school's timezone and fever threshold."""
    table = cast(Table, Attendance.__table__)
    params = [
        bindparam("type", type_=table.c.type.type),
        bindparam("timestamp", type_=table.c.timestamp.type),
        bindparam("temperature", type_=table.c.temperature.type),
        bindparam("image", type_=table.c.image.type),
        bindparam("received_at", type_=table.c.received_at.type),
        bindparam("idempotency_key", type_=table.c.idempotency_key.type),
    ]
    source = select(Enrolment.user_id, Enrolment.school_id, *params).where(
        Enrolment.user_id == bindparam("user_id"),
        Enrolment.school_id == bindparam("school_id"),
        ~exists().where(
            AttendanceKey.school_id == bindparam("school_id"),
            AttendanceKey.idempotency_key == bindparam("idempotency_key"),
        ),
    )
    # Written out: SQLAlchemy does not correlate subqueries inside RETURNING.
    settings = [
        literal_column(
            "(SELECT timezone FROM schools WHERE schools.id = attendances.school_id)",
            School.timezone.type,
        ),
        literal_column(
            "(SELECT fever_threshold FROM schools WHERE schools.id = attendances.school_id)",
            School.fever_threshold.type,
        ),
    ]
    return (
        insert(table)
        .from_select(
            ["user_id", "school_id", "type", "timestamp", "temperature", "image"]
            + ["received_at", "idempotency_key"],
            source.limit(1),
        )
        .returning(table.c.id, *settings)
    )


_INSERT_SQLITE = _insert_checked()


def delete_attendance(event: Attendance) -> None:
    """Remove one event (a correction) and its key; the figures of its day are recomputed."""
    touch_day(event)
    # By id and timestamp, so that PostgreSQL deletes from the event's partition only.
    delete_events(Attendance.id == event.id, Attendance.timestamp == event.timestamp)
    db.session.expunge(event)
    db.session.flush()


def delete_events(*where: ColumnElement[bool]) -> int:
    """Delete the events matching every condition of `where`, and their idempotency keys
    with them; returns how many events went. Every deletion of events goes through here.

    A key never outlives its event, as when it was a column of the event: a retry of a
    deleted event's request stores it again, and the paths that record events need not
    look for keys whose event is gone. (No foreign key says so: it would cost every
    check-in a probe of the events' index, and hold on to the months an operator detaches.)
    Give the events' timestamps in `where` when known: PostgreSQL then reads their months only.
    """
    if not where:
        raise ValueError("delete_events needs a condition; every event would go")
    gone = db.session.execute(
        delete(Attendance)
        .where(*where)
        .returning(Attendance.id, Attendance.school_id, Attendance.idempotency_key),
        execution_options={"synchronize_session": False},
    ).all()
    keys = [
        {"school_id": school_id, "key": key, "ident": ident}
        for ident, school_id, key in gone
        if key is not None
    ]
    if keys:
        db.session.execute(_DELETE_KEY, keys)
    return len(gone)


# On the table, not the entity: with a list of parameters, an ORM delete would be a bulk
# delete by primary key.
_DELETE_KEY = delete(cast(Table, AttendanceKey.__table__)).where(
    AttendanceKey.school_id == bindparam("school_id"),
    AttendanceKey.idempotency_key == bindparam("key"),
    AttendanceKey.attendance_id == bindparam("ident"),
)


def touch_day(event: Attendance) -> None:
    """Mark the cached figures of the event's school and local date stale."""
    from .daycache import invalidate_day

    invalidate_day(event.school_id, event.timestamp)


def filtered(args: dict[str, Any]) -> Select[Attendance]:
    """The list query, filtered by school, user, type and time range, oldest first."""
    query = select(Attendance).order_by(Attendance.timestamp, Attendance.id)
    if "school_id" in args:
        query = query.where(Attendance.school_id == args["school_id"])
    if "user_id" in args:
        query = query.where(Attendance.user_id == args["user_id"])
    if "type" in args:
        query = query.where(Attendance.type == args["type"])
    if "from_" in args:
        query = query.where(Attendance.timestamp >= args["from_"])
    if "to" in args:
        query = query.where(Attendance.timestamp <= args["to"])
    return query
