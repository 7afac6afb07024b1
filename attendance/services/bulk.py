"""Storing many events at once: a device's offline batch, and the demo loader's rows.

Both paths are idempotent on (school_id, idempotency_key), a key being taken when
`attendance_keys` holds it, and bump the day version of every (school, local date) they
add rows to, once per date, in the caller's transaction.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from sqlalchemy import and_, any_, bindparam, func, insert, select
from sqlalchemy.dialects import postgresql

from .. import clock
from ..extensions import db
from ..models import Attendance, AttendanceKey, Enrolment, School
from ..presence import local_date
from ..security import images
from ..signals import attendances_recorded
from . import ServiceError, dialect
from .attendances import Row, check_event
from .daycache import invalidate_days

CREATED = "created"
DUPLICATE = "duplicate"
INVALID = "invalid"

# SQLite allows 32,766 bound parameters per statement.
KEYS_PER_QUERY = 5000


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one event of a batch."""

    status: str  # CREATED | DUPLICATE | INVALID
    id: int | None = None
    errors: Mapping[str, list[str]] | None = None
    timestamp: dt.datetime | None = None  # a created event's (its partition, on PostgreSQL)


# -- the bulk endpoint --------------------------------------------------------------------


def record_many(
    events: Sequence[Mapping[str, Any] | Outcome], received_at: dt.datetime | None = None
) -> list[Outcome]:
    """Store a batch of validated events (or pass on earlier Outcomes); one outcome each, in order.

    An event is a duplicate when its idempotency key is already stored for its school or
    appears earlier in the batch; its outcome carries the first record's id. The rules are
    those of one event (`check_event`); refused events do not stop the others.
    """
    received_at = received_at or clock.now()
    outcomes: list[Outcome | None] = [e if isinstance(e, Outcome) else None for e in events]
    valid = [(i, e) for i, e in enumerate(events) if not isinstance(e, Outcome)]
    if not valid:
        return [o for o in outcomes if o is not None]
    enrolled, schools = _load_enrolments_and_schools(valid)
    # On PostgreSQL the batch's keys are not looked up first: the COPY finds out (the
    # keys' primary key) whether one is stored, and only then does a slower way answer those
    # items as duplicates (`_insert_checked`, `raced` below), as the look-up would have.
    optimistic = dialect() == "postgresql"
    stored = {} if optimistic else _stored_keys(_key(e) for _, e in valid)

    rows: list[tuple[int, Row]] = []  # the rows accepted, in the order checked
    first_of: dict[tuple[int, str], int] = {}  # key -> index of the batch's event storing it
    later: list[tuple[int, tuple[int, str]]] = []  # repeats of a key stored by this batch
    refused: list[tuple[int, tuple[int, str]]] = []  # refused, keyed: a duplicate if stored

    def accepted() -> Iterator[Row]:
        """The batch's rows, checked one by one in key order (see `_in_key_order`)."""
        for i, key, event in _in_key_order(valid):
            if key is not None:
                if key in stored:
                    outcomes[i] = Outcome(DUPLICATE, stored[key])
                    continue
                if key in first_of:
                    later.append((i, key))
                    continue
            try:
                check_event(
                    event,
                    school_found=event["school_id"] in schools,
                    enrolled=(event["user_id"], event["school_id"]) in enrolled,
                    received_at=received_at,
                )
            except ServiceError as error:
                outcomes[i] = Outcome(INVALID, errors={error.field: [error.message]})
                if key is not None and optimistic:
                    refused.append((i, key))
                continue
            if key is not None:
                first_of[key] = i
            row = Row.from_event(event, received_at)
            rows.append((i, row))
            yield row

    ids = _insert_checked(accepted(), len(valid))
    photos = {i: e["image"] for i, e in valid if e.get("image") is not None}
    days: set[tuple[int, dt.date]] = set()
    raced: list[tuple[int, Row]] = []  # a concurrent batch stored the key first
    for (i, row), ident in zip(rows, ids, strict=True):
        if ident is None:
            raced.append((i, row))
            continue
        outcomes[i] = Outcome(CREATED, ident, timestamp=row.timestamp)
        days.add((row.school_id, local_date(row.timestamp, schools[row.school_id])))
        images.to_stored(photos.get(i))
    if raced:
        found = _stored_keys(row.key for _, row in raced)
        for i, row in raced:
            key = row.key
            outcomes[i] = Outcome(DUPLICATE, found.get(key) if key is not None else None)
    if refused:  # an event whose key is stored is a duplicate, valid or not (as single)
        found = _stored_keys(key for _, key in refused)
        for i, key in refused:
            if key in found:
                outcomes[i] = Outcome(DUPLICATE, found[key])
    for i, key in later:
        first = outcomes[first_of[key]]
        outcomes[i] = Outcome(DUPLICATE, first.id if first else None)
    invalidate_days(days)
    return [o for o in outcomes if o is not None]


def _key(event: Mapping[str, Any]) -> tuple[int, str] | None:
    key = event.get("client_event_id")
    return None if key is None else (event["school_id"], key)


def _in_key_order(
    events: Sequence[tuple[int, Mapping[str, Any]]],
) -> list[tuple[int, tuple[int, str] | None, Mapping[str, Any]]]:
    """(index, key, event): keyed events sorted by key (a repeated key in batch order),
    then the others in batch order: the order rows are written in (see `_copy_postgresql`).
    Checking them in this order decides as batch order would: a key's first event that
    is accepted is stored, later ones are duplicates."""
    keyed = sorted((key, i) for i, e in events if (key := _key(e)) is not None)
    by_index = dict(events)
    return [(i, key, by_index[i]) for key, i in keyed] + [
        (i, None, e) for i, e in events if _key(e) is None
    ]


def _load_enrolments_and_schools(
    events: Sequence[tuple[int, Mapping[str, Any]]],
) -> tuple[set[tuple[int, int]], dict[int, str]]:
    """The (user, school) pairs of the batch's users' enrolments; schools named -> timezone."""
    user_ids = sorted({e["user_id"] for _, e in events})
    school_ids = sorted({e["school_id"] for _, e in events})
    # Core, on the session's connection: the ORM's result handling cost more per row
    # than the query (a batch's thousands of users).
    connection = db.session.connection()
    pairs = connection.execute(
        select(Enrolment.user_id, Enrolment.school_id)
        .where(_among(Enrolment.user_id, user_ids))
        .distinct()
    ).all()
    schools = connection.execute(
        select(School.id, School.timezone).where(_among(School.id, school_ids))
    ).all()
    return {(u, s) for u, s in pairs}, {s: tz for s, tz in schools}


def _among(column: Any, values: Sequence[Any]) -> Any:
    """`column IN values`: one array parameter on PostgreSQL, not thousands of them."""
    if dialect() == "postgresql":
        return column == any_(bindparam(None, list(values), type_=postgresql.ARRAY(column.type)))
    return column.in_(values)


def _stored_keys(keys: Iterable[tuple[int, str] | None]) -> dict[tuple[int, str], int]:
    """The ids of events already stored under these (school, key) pairs (None: no key)."""
    by_school: dict[int, list[str]] = defaultdict(list)
    for pair in keys:
        if pair is not None:
            by_school[pair[0]].append(pair[1])
    found: dict[tuple[int, str], int] = {}
    for school_id, school_keys in by_school.items():
        for start in range(0, len(school_keys), KEYS_PER_QUERY):
            chunk = school_keys[start : start + KEYS_PER_QUERY]
            result = db.session.execute(_stored_keys_query(school_id, chunk))
            found.update(((school_id, key), ident) for key, ident in result if key)
    return found


def _stored_keys_query(school_id: int, keys: list[str]) -> Any:
    """The stored (key, id) pairs of one school among `keys`."""
    columns = (AttendanceKey.idempotency_key, AttendanceKey.attendance_id)
    if dialect() != "postgresql":
        return select(*columns).where(
            AttendanceKey.school_id == school_id, AttendanceKey.idempotency_key.in_(keys)
        )
    # Joined with unnest(): PostgreSQL probes the primary key once per key. With
    # `= ANY(array)` it may estimate thousands of probes dearer than reading the whole
    # table, and do that instead once a school has a few hundred thousand keys.
    wanted = (
        func.unnest(
            bindparam(None, keys, type_=postgresql.ARRAY(AttendanceKey.idempotency_key.type))
        )
        .table_valued("key")
        .render_derived(name="wanted")
    )
    return (
        select(*columns)
        .select_from(wanted)
        .join(
            AttendanceKey,
            and_(
                AttendanceKey.school_id == school_id,
                AttendanceKey.idempotency_key == wanted.c.key,
            ),
        )
    )


def insert_rows(rows: Sequence[Row]) -> list[int | None]:
    """Insert the rows whose key is not stored yet; their ids in order (None: not inserted).

    A key that is stored already, or repeats in `rows`, is skipped: its row gets None.
    """
    ids: list[int | None] = [None] * len(rows)
    taken = set(_stored_keys(r.key for r in rows)) if rows else set()
    new: list[int] = []
    for n, row in enumerate(rows):
        if row.key is None or row.key not in taken:
            new.append(n)
            if row.key is not None:
                taken.add(row.key)
    if not new:
        return ids
    new = [new[k] for k in _key_order([rows[n] for n in new])]  # the COPY's order
    for n, ident in zip(new, _insert_checked((rows[n] for n in new), len(new)), strict=True):
        ids[n] = ident
    return ids


def _insert_checked(rows: Iterator[Row], count: int) -> list[int | None]:
    """Insert rows whose keys the caller has checked (none stored, none repeated), taking
    each as the caller checks it: at most `count`, keyed rows first, sorted (`_key_order`).
    Their ids in the order taken (None: not inserted, another transaction stored its key
    meanwhile). The one way both the endpoint's batches and the demo loader's rows go in.
    """
    if dialect() == "postgresql":
        # Each row goes to the COPY as soon as it is checked: the database stores the
        # first rows while the next are checked.
        made: list[Row] = []
        fresh = _copy_postgresql(_kept(rows, made), count)
        if fresh is None:  # another transaction stored one of the keys meanwhile
            made.extend(rows)  # the rest, checked
            ids = _insert_staged(made)
        else:
            ids = list(fresh)
    else:
        ids = list(_insert_sqlite(list(rows)))
    attendances_recorded.send(None, count=sum(i is not None for i in ids))
    return ids


def _insert_sqlite(rows: list[Row]) -> list[int]:
    """SQLite: the rows and their keys, their ids in order. Its transactions begin
    IMMEDIATE (dbsetup): nobody else can write these keys since the caller's look-up."""
    if not rows:
        return []
    stmt = insert(Attendance).returning(Attendance.id, sort_by_parameter_order=True)
    fresh = list(db.session.scalars(stmt, [row.as_dict() for row in rows]))
    keys = [
        {"school_id": row.school_id, "idempotency_key": row.idempotency_key,
         "attendance_id": ident, "timestamp": row.timestamp}
        for row, ident in zip(rows, fresh, strict=True)
        if row.idempotency_key is not None
    ]  # fmt: skip
    if keys:
        db.session.execute(insert(AttendanceKey), keys)
    return fresh


def _kept(rows: Iterator[Row], made: list[Row]) -> Iterator[Row]:
    for row in rows:
        made.append(row)
        yield row


# PostgreSQL, usually: ids drawn from the sequence, then COPY straight into the tables
# (as fast as COPY gets): the events into attendances as they are checked, then their keys
# into attendance_keys. Keyed rows come first, sorted, so concurrent batches meet their
# keys in one order. Should another transaction have stored one of the keys since the
# look-up, the keys' COPY fails on their primary key, everything is rolled back to the
# savepoint, and the rows go the staged way instead: COPY into a temporary table, then
# one INSERT of the keys ON CONFLICT DO NOTHING and of the events whose key it took.
_NEXT_IDS = (
    "SELECT nextval(pg_get_serial_sequence('attendances', 'id')) FROM generate_series(1, %s)"
)
_COPY_KEYS = """
COPY attendance_keys (school_id, idempotency_key, attendance_id, timestamp)
FROM STDIN (FORMAT BINARY)
"""
_COPY_DIRECT = """
COPY attendances (
    id, user_id, school_id, type, timestamp, temperature, image, received_at, idempotency_key
) FROM STDIN (FORMAT BINARY)
"""
# The columns' types, in the COPYs' order: binary COPY sends values as PostgreSQL stores
# them, which costs psycopg less than writing them out as text.
_KEY_TYPES = ("int4", "varchar", "int8", "timestamptz")
_COPY_TYPES = (
    "int8", "int4", "int4", "varchar", "timestamptz", "numeric", "text", "timestamptz", "varchar"
)  # fmt: skip


def _copy_postgresql(rows: Iterable[Row], count: int) -> list[int] | None:
    """COPY rows whose keys are new, in the order given (keyed rows first, sorted: see
    `_key_order`), each as it comes, at most `count`; their ids in that order, or None
    when a key turned out to be taken."""
    connection = db.session.connection()
    ids = _next_ids(connection, count)
    raw: Any = connection.connection.driver_connection  # psycopg.Connection
    written = 0
    try:
        with db.session.begin_nested():
            db.session.connection()  # emits the SAVEPOINT now: the COPY bypasses the session
            with raw.cursor() as cursor:
                keys: list[tuple[int, str | None, int, dt.datetime]] = []
                with cursor.copy(_COPY_DIRECT) as copy:
                    copy.set_types(_COPY_TYPES)
                    for row in rows:
                        ident = ids[written]
                        copy.write_row((ident, *row.as_tuple()))
                        if row.key is not None:
                            keys.append((row.school_id, row.idempotency_key, ident, row.timestamp))
                        written += 1
                if keys:
                    with cursor.copy(_COPY_KEYS) as copy:
                        copy.set_types(_KEY_TYPES)
                        for key_row in keys:
                            copy.write_row(key_row)
    except psycopg.errors.UniqueViolation:
        return None
    return ids[:written]  # ids drawn for rows the caller then refused stay unused


def _next_ids(connection: Any, count: int) -> list[int]:
    """`count` new ids from the events' sequence."""
    return [ident for (ident,) in connection.exec_driver_sql(_NEXT_IDS, (count,))]


def _key_order(rows: Sequence[Row]) -> list[int]:
    """Positions of the keyed rows sorted by key, then of the unkeyed ones in order."""
    # Ties (a key repeated) keep their order: the position breaks them.
    keyed = sorted((key, n) for n, r in enumerate(rows) if (key := r.key) is not None)
    return [n for _, n in keyed] + [n for n, r in enumerate(rows) if r.key is None]


# The staged way: every row with an id of its own; the keys taken in `ord` order (the
# first of a repeated key wins), and the events stored whose key was taken, or that have
# none.
_STAGE = """
DROP TABLE IF EXISTS pg_temp.attendance_stage;
CREATE TEMPORARY TABLE attendance_stage (
    id bigint, user_id integer, school_id integer, type varchar(8), timestamp timestamptz,
    temperature numeric(5, 2), image text, received_at timestamptz,
    idempotency_key varchar(200), ord integer
) ON COMMIT DROP
"""
_COPY_STAGE = """
COPY attendance_stage (
    id, user_id, school_id, type, timestamp, temperature, image, received_at, idempotency_key,
    ord
) FROM STDIN
"""
_FROM_STAGE = """
WITH taken AS (
    INSERT INTO attendance_keys (school_id, idempotency_key, attendance_id, timestamp)
    SELECT school_id, idempotency_key, id, timestamp FROM attendance_stage
    WHERE idempotency_key IS NOT NULL ORDER BY ord
    ON CONFLICT (school_id, idempotency_key) DO NOTHING
    RETURNING attendance_id
)
INSERT INTO attendances
    (id, user_id, school_id, type, timestamp, temperature, image, received_at, idempotency_key)
SELECT id, user_id, school_id, type, timestamp, temperature, image, received_at, idempotency_key
FROM attendance_stage
WHERE idempotency_key IS NULL OR id IN (SELECT attendance_id FROM taken)
ORDER BY ord
RETURNING id
"""


def _insert_staged(rows: Sequence[Row]) -> list[int | None]:
    """Insert rows, skipping taken and repeated keys, whoever took them and whenever."""
    connection = db.session.connection()
    connection.exec_driver_sql(_STAGE)
    ids = _next_ids(connection, len(rows))
    raw: Any = connection.connection.driver_connection  # psycopg.Connection
    with raw.cursor() as cursor, cursor.copy(_COPY_STAGE) as copy:
        for position, n in enumerate(_key_order(rows)):
            copy.write_row((ids[n], *rows[n].as_tuple(), position))
    stored = {ident for (ident,) in connection.exec_driver_sql(_FROM_STAGE)}
    return [ident if ident in stored else None for ident in ids]


# -- the demo loader ----------------------------------------------------------------------


def copy_rows(rows: Sequence[Row], timezones: Mapping[int, str]) -> int:
    """Store rows fast, skipping keys already stored; returns how many were new.

    `timezones` maps every school of `rows` to its timezone, for the day versions.
    """
    ids = insert_rows(rows)
    invalidate_days(
        (row.school_id, local_date(row.timestamp, timezones[row.school_id]))
        for row, ident in zip(rows, ids, strict=True)
        if ident is not None
    )
    return sum(ident is not None for ident in ids)
