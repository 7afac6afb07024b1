"""Events become deliveries: one row per subscription that wants the event (the record).

An event has a key naming what it is about (a reading, a pupil's date): a subscription
gets one delivery per key, however often the event is decided (a retried request, a
day close run again), so nothing is sent twice.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import Select, String, cast, exists, literal, or_, select

from ... import clock
from ...extensions import db
from ...models import Attendance, School, User
from ...presence import is_fever
from ...webhook_models import DELIVERY_PENDING, FEVER, Webhook, WebhookDelivery

# The key of a reading's fever event: "fever:<attendance id>".
FEVER_KEY = "fever:"
# The fever sweep (missed_fevers): the readings it looks at, and how long it leaves a new
# one to the check-in path; at most SWEEP_BATCH readings a subscription each time.
SWEEP_WINDOW = dt.timedelta(hours=24)
SWEEP_SETTLE = dt.timedelta(minutes=1)
SWEEP_BATCH = 1000


# A stored reading: its id and its timestamp (which says its partition on PostgreSQL).
Reading = tuple[int, dt.datetime]
# A subscription as `subscribers` gives it: (id, school_id or None, event types).
Subscriber = tuple[int, int | None, list[str]]


@dataclass(frozen=True)
class Event:
    """An event of one school: its type, its key (see the module) and its data."""

    type: str
    school_id: int
    key: str
    data: dict[str, Any]


def subscribers(school_ids: Iterable[int], types: Sequence[str]) -> list[Subscriber]:
    """(id, school_id, event types) of the enabled subscriptions of these schools (or of
    every school) that want one of `types`. The table is small: filtered here, not in SQL
    (JSON containment differs between databases)."""
    ids = list(set(school_ids))
    rows = db.session.execute(
        select(Webhook.id, Webhook.school_id, Webhook.event_types).where(
            Webhook.disabled_at.is_(None),
            or_(Webhook.school_id.is_(None), Webhook.school_id.in_(ids)),
        )
    )
    return [(i, s, list(t)) for i, s, t in rows if set(t) & set(types)]


def message_id() -> str:
    """A new Standard Webhooks message id."""
    return "msg_" + uuid.uuid4().hex


def body(event: Event, at: dt.datetime) -> str:
    """The JSON body of a delivery: `{type, timestamp, data}`."""
    stamp = at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    return orjson.dumps({"type": event.type, "timestamp": stamp, "data": event.data}).decode()


def record(events: Sequence[Event], subs: Sequence[Subscriber] | None = None) -> list[str]:
    """Store a delivery for each subscription that wants each event; the new delivery ids.

    An event already recorded for a subscription (the same key) is left as it is.
    `subs`: these subscriptions (the fever sweep's, which has them already), not the
    enabled ones of the events' schools.
    """
    if not events:
        return []
    if subs is None:
        subs = subscribers({e.school_id for e in events}, sorted({e.type for e in events}))
    now = clock.now()
    rows = [
        {
            "id": message_id(),
            "webhook_id": sub_id,
            "event_type": event.type,
            "event_key": event.key,
            "body": body(event, now),
            "status": DELIVERY_PENDING,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for event in events
        for sub_id, school_id, types in subs
        if event.type in types and school_id in (None, event.school_id)
    ]
    if not rows:
        return []
    return _insert_new(rows)


def _insert_new(rows: list[dict[str, Any]]) -> list[str]:
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as upsert
    else:
        from sqlalchemy.dialects.sqlite import insert as upsert  # type: ignore[assignment]
    statement = (
        upsert(WebhookDelivery)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["webhook_id", "event_key"])
        .returning(WebhookDelivery.id)
    )
    return [str(i) for i in db.session.scalars(statement)]


def _number(value: Decimal) -> float:
    return float(value)


def fever_events(readings: Sequence[Reading]) -> list[Event]:
    """The fever events of these stored readings (those at or above their school's threshold)."""
    rows = db.session.execute(fever_readings(readings))
    return [
        Event(
            FEVER,
            a.school_id,
            FEVER_KEY + str(a.id),
            {
                "attendance_id": a.id,
                "school_id": a.school_id,
                "user_id": a.user_id,
                "name": name,
                "external_id": external_id,
                "group": group,
                "type": a.type,
                "timestamp": a.timestamp.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
                "temperature": _number(a.temperature),
                "fever_threshold": _number(threshold),
            },
        )
        for a, threshold, name, external_id, group in rows
    ]


def fever_readings(
    readings: Sequence[Reading],
) -> Select[Attendance, Decimal, str, str | None, str | None]:
    """The readings that are fevers, with their thresholds and pupils. By id and timestamp:
    on PostgreSQL the plan reads only the months of the readings' timestamps (by id alone
    it would probe every month's index). The ids alone say which readings: each has one
    timestamp, so the timestamps' list only narrows where to look."""
    ids = [ident for ident, _ in readings]
    stamps = sorted({stamp for _, stamp in readings})
    return (
        select(Attendance, School.fever_threshold, User.name, User.external_id, User.group)
        .join(School, School.id == Attendance.school_id)
        .join(User, User.id == Attendance.user_id)
        .where(Attendance.id.in_(ids), Attendance.timestamp.in_(stamps))
        .where(is_fever(Attendance.temperature, School.fever_threshold))  # type: ignore[arg-type]
    )


def wants_fevers(school_ids: Iterable[int]) -> bool:
    """True when an enabled subscription wants the fevers of one of these schools."""
    return bool(subscribers(school_ids, [FEVER]))


def missed_fevers(now: dt.datetime) -> list[str]:
    """The fever sweep: record the fever deliveries the check-in path left out; their ids.

    A check-in commits its reading, then records its fever's deliveries: a process that
    dies in between (or a database that fails then) leaves a fever without a delivery.
    This finds, for each enabled subscription that wants fevers, the fever readings of
    its schools timestamped and received within SWEEP_WINDOW, received at least
    SWEEP_SETTLE ago (the check-in path's own turn) and since the subscription takes
    events (`enabled_at`), that have no delivery of theirs, and records one. The
    deliveries' unique (subscription, event key) makes it idempotent, beside the
    check-in path or another sweep. A reading timestamped before the window (a device's
    late sync) is left to the check-in path: the index read is by school and timestamp.
    """
    since, settled = now - SWEEP_WINDOW, now - SWEEP_SETTLE
    subs = db.session.execute(
        select(Webhook.id, Webhook.school_id, Webhook.event_types, Webhook.enabled_at)
        .where(Webhook.disabled_at.is_(None))
        .order_by(Webhook.id)
    ).all()
    every_school: list[int] | None = None
    new: list[str] = []
    for webhook_id, school_id, types, enabled_at in subs:
        if FEVER not in types or enabled_at >= settled:
            continue
        if school_id is None and every_school is None:
            every_school = list(db.session.scalars(select(School.id).order_by(School.id)))
        schools = [school_id] if school_id is not None else every_school or []
        received_from = max(since, enabled_at)
        query = _missed(webhook_id, schools, since, received_from, settled)
        missed = [(ident, stamp) for ident, stamp in db.session.execute(query)]
        if missed:
            new += record(fever_events(missed), [(webhook_id, school_id, list(types))])
    return new


def _missed(
    webhook_id: int,
    school_ids: list[int],
    since: dt.datetime,
    received_from: dt.datetime,
    settled: dt.datetime,
) -> Select[int, dt.datetime]:
    """The fever readings (id, timestamp) of these schools without a delivery for this webhook.

    Read through the index on (school_id, timestamp); each candidate's delivery is looked
    up in the unique index on (webhook_id, event_key).
    """
    key = literal(FEVER_KEY, String) + cast(Attendance.id, String)
    delivered = exists().where(
        WebhookDelivery.webhook_id == webhook_id, WebhookDelivery.event_key == key
    )
    return (
        select(Attendance.id, Attendance.timestamp)
        .join(School, School.id == Attendance.school_id)
        .where(
            Attendance.school_id.in_(school_ids),
            Attendance.timestamp >= since,
            Attendance.received_at >= received_from,
            Attendance.received_at < settled,
            is_fever(Attendance.temperature, School.fever_threshold),  # type: ignore[arg-type]
            ~delivered,
        )
        .order_by(Attendance.id)
        .limit(SWEEP_BATCH)
    )
