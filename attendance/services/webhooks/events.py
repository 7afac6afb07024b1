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
from sqlalchemy import or_, select

from ... import clock
from ...extensions import db
from ...models import Attendance, School, User
from ...presence import is_fever
from ...webhook_models import DELIVERY_PENDING, FEVER, Webhook, WebhookDelivery


@dataclass(frozen=True)
class Event:
    """An event of one school: its type, its key (see the module) and its data."""

    type: str
    school_id: int
    key: str
    data: dict[str, Any]


def subscribers(
    school_ids: Iterable[int], types: Sequence[str]
) -> list[tuple[int, int | None, list[str]]]:
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


def record(events: Sequence[Event]) -> list[str]:
    """Store a delivery for each subscription that wants each event; the new delivery ids.

    An event already recorded for a subscription (the same key) is left as it is.
    """
    if not events:
        return []
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


def fever_events(attendance_ids: Sequence[int]) -> list[Event]:
    """The fever events of these stored readings (those at or above their school's threshold)."""
    rows = db.session.execute(
        select(Attendance, School.fever_threshold, User.name, User.external_id, User.group)
        .join(School, School.id == Attendance.school_id)
        .join(User, User.id == Attendance.user_id)
        .where(Attendance.id.in_(list(attendance_ids)))
        .where(is_fever(Attendance.temperature, School.fever_threshold))  # type: ignore[arg-type]
    )
    return [
        Event(
            FEVER,
            a.school_id,
            f"fever:{a.id}",
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


def wants_fevers(school_ids: Iterable[int]) -> bool:
    """True when an enabled subscription wants the fevers of one of these schools."""
    return bool(subscribers(school_ids, [FEVER]))
