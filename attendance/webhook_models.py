"""Webhook subscriptions, their deliveries, and the record of each school's closed days."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .db_types import UTCDateTime, now_default, one_of
from .extensions import Model

if TYPE_CHECKING:
    from .models import School

# The events a subscription may ask for (docs/webhooks.md).
FEVER = "attendance.fever"
ABSENCE_STREAK = "pupil.absence_streak"
CHRONIC = "pupil.chronic"
DAY_CLOSED = "school.day_closed"
WEBHOOK_EVENT_TYPES = (FEVER, ABSENCE_STREAK, CHRONIC, DAY_CLOSED)
# The events decided when a school's day closes.
DAY_EVENTS = (ABSENCE_STREAK, CHRONIC, DAY_CLOSED)

DELIVERY_PENDING = "pending"  # waiting for its (next) try
DELIVERY_SENDING = "sending"  # a worker is sending it now
DELIVERY_DELIVERED = "delivered"
DELIVERY_FAILED = "failed"  # no tries left, or its subscription was disabled
DELIVERY_STATUSES = (DELIVERY_PENDING, DELIVERY_SENDING, DELIVERY_DELIVERED, DELIVERY_FAILED)

CLOSE_PENDING = "pending"  # claimed; its reports are asked for or being computed
CLOSE_DONE = "done"  # its events are recorded
CLOSE_STATUSES = (CLOSE_PENDING, CLOSE_DONE)


class Webhook(Model):
    """A subscription: where to send which events of one school (or of every school)."""

    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(2048))
    event_types: Mapped[list[str]] = mapped_column(JSON)
    # None: every school (district tokens only).
    school_id: Mapped[int | None] = mapped_column(
        ForeignKey("schools.id", ondelete="CASCADE"), index=True
    )
    # The signing secret, encrypted (attendance.services.webhooks.secrets): a database dump
    # does not reveal it.
    secret_encrypted: Mapped[str] = mapped_column(Text)
    # Who made it: "token:<api token id>" or "admin:<admin id>".
    created_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_default)
    # Since when every try has failed (None: the last try succeeded, or none failed yet).
    failing_since: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # Set after WEBHOOK_DISABLE_AFTER of failures: no new events, no more tries.
    disabled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # Since when it takes events: its creation, or the success that enabled it again. The
    # fever sweep delivers no reading received before (nor while it was disabled).
    enabled_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_default)

    @property
    def enabled(self) -> bool:
        """False once disabled after days of failures."""
        return self.disabled_at is None


class WebhookDelivery(Model):
    """One event for one subscription: the record of its tries (the same id on each)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        one_of("status", DELIVERY_STATUSES, name="status"),
        # One delivery per event and subscription, however often the event is decided.
        UniqueConstraint("webhook_id", "event_key"),
        Index("ix_webhook_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_webhook_id_created_at", "webhook_id", "created_at"),
    )

    # The Standard Webhooks `webhook-id` ("msg_" + 32 hex digits).
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    event_type: Mapped[str] = mapped_column(String(40))
    # What the event is about, e.g. "fever:<attendance id>": no event is delivered twice.
    event_key: Mapped[str] = mapped_column(String(120))
    # The exact body sent on every try (its signature covers these bytes).
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default=DELIVERY_PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(200))
    last_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # While sending: past it, the worker is taken for lost and the try is made again.
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # Sent again by hand and not tried since: tried even when its subscription is disabled
    # (a success enables the subscription again).
    by_hand: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_default)

    webhook: Mapped[Webhook] = relationship()


class DayClose(Model):
    """The closing of one school's local date: claimed once, whatever the number of workers."""

    __tablename__ = "day_closes"
    __table_args__ = (
        one_of("status", CLOSE_STATUSES, name="status"),
        UniqueConstraint("school_id", "date"),
        Index("ix_day_closes_status_lease_until", "status", "lease_until"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id", ondelete="CASCADE"))
    date: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(10), default=CLOSE_PENDING)
    # The reports it reads its figures from (the year to date, and to the day before).
    report_ids: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # A job has it until then (a tick hands it to another job afterwards).
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    events: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_default)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    school: Mapped[School] = relationship("School")
