"""Delivering: claim a due delivery, try it once, record the outcome, schedule the next try.

The row is the record: `deliver` claims it (pending and due → sending, with a lease),
sends outside any transaction, then records the answer. A 2xx is delivered; anything
else is tried again after a backoff (`retry_delay`) until WEBHOOK_MAX_ATTEMPTS, about a
day. Every try sends the same `webhook-id` and body, so receivers can de-duplicate. A
subscription whose tries have all failed for WEBHOOK_DISABLE_AFTER is disabled.
`due` is the sweep that catches up deliveries whose queued job was lost.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from sqlalchemy import or_, select, update

from ... import clock
from ...extensions import db
from ...webhook_models import (
    DELIVERY_DELIVERED,
    DELIVERY_FAILED,
    DELIVERY_PENDING,
    DELIVERY_SENDING,
    Webhook,
    WebhookDelivery,
)
from . import Settings, secrets, sending, targets

log = logging.getLogger(__name__)
MAX_DELAY = 12 * 3600.0  # seconds: the longest wait between two tries
LEASE_SLACK = 30.0  # seconds past the timeout before a sending try counts as lost
EARLY = dt.timedelta(seconds=2)  # a scheduled job may run this early (clock skew)


def retry_delay(attempts: int, settings: Settings) -> float:
    """Seconds to wait after the `attempts`-th failed try: base, x4 each time, at most 12 h."""
    return float(min(settings.retry_base * 4 ** (attempts - 1), MAX_DELAY))


@dataclass(frozen=True)
class Claimed:
    """A delivery this worker is sending now."""

    id: str
    url: str
    secret_encrypted: str
    body: str


def claim(delivery_id: str, settings: Settings) -> Claimed | None:
    """Take a pending, due delivery of an enabled subscription, or one sent again by hand
    (None: not ours to send)."""
    now = clock.now()
    taken = db.session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == delivery_id,
            WebhookDelivery.status == DELIVERY_PENDING,
            WebhookDelivery.next_attempt_at <= now + EARLY,
        )
        .values(
            status=DELIVERY_SENDING,
            lease_until=now + dt.timedelta(seconds=settings.timeout * 2 + LEASE_SLACK),
        )
        .returning(WebhookDelivery.webhook_id, WebhookDelivery.body, WebhookDelivery.by_hand)
    ).first()
    if taken is None:
        return None
    webhook = db.session.get(Webhook, taken.webhook_id)
    if webhook is None or (webhook.disabled_at is not None and not taken.by_hand):
        _give_up(delivery_id, "the subscription is disabled")
        return None
    return Claimed(delivery_id, webhook.url, webhook.secret_encrypted, taken.body)


def attempt(claimed: Claimed, settings: Settings) -> sending.Answer:
    """One try over HTTP (no transaction is open while it waits for the receiver)."""
    try:
        target = targets.resolve(claimed.url)
        secret = secrets.decrypt(claimed.secret_encrypted)
    except targets.Refused as error:
        return sending.Answer(None, f"refused: the URL {error}"[:200])
    except secrets.SecretUnreadable as error:
        return sending.Answer(None, str(error))
    body = claimed.body.encode()
    stamp = int(clock.now().timestamp())
    headers = {
        "webhook-id": claimed.id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": secrets.signature(secret, claimed.id, stamp, body),
    }
    return sending.post(target, headers, body, settings.timeout)


def record(delivery_id: str, answer: sending.Answer, settings: Settings) -> float | None:
    """Store a try's outcome; the seconds until the next try (None: no more tries)."""
    now = clock.now()
    delivery = db.session.get_one(WebhookDelivery, delivery_id, with_for_update=True)
    webhook = db.session.get_one(Webhook, delivery.webhook_id, with_for_update=True)
    delivery.attempts += 1
    delivery.last_attempt_at = now
    delivery.last_status_code = answer.status
    delivery.last_error = answer.error
    delivery.lease_until = None
    delivery.by_hand = False
    if answer.ok:
        delivery.status = DELIVERY_DELIVERED
        delivery.next_attempt_at = None
        webhook.failing_since = None
        if webhook.disabled_at is not None:  # a redelivery by hand got through: enabled again
            webhook.disabled_at = None
            webhook.enabled_at = now
        db.session.flush()
        return None
    if webhook.failing_since is None:
        webhook.failing_since = now
    elif (now - webhook.failing_since).total_seconds() >= settings.disable_after:
        if webhook.disabled_at is None:
            webhook.disabled_at = now
            log.warning(
                "webhook %s disabled after failing since %s", webhook.id, webhook.failing_since
            )
    # A disabled subscription's delivery sent by hand has had its one try.
    if webhook.disabled_at is not None or delivery.attempts >= settings.max_attempts:
        delivery.status = DELIVERY_FAILED
        delivery.next_attempt_at = None
        db.session.flush()
        return None
    delay = retry_delay(delivery.attempts, settings)
    delivery.status = DELIVERY_PENDING
    delivery.next_attempt_at = now + dt.timedelta(seconds=delay)
    db.session.flush()
    return delay


def _give_up(delivery_id: str, reason: str) -> None:
    db.session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id)
        .values(status=DELIVERY_FAILED, lease_until=None, next_attempt_at=None, last_error=reason)
    )


def redeliver(delivery: WebhookDelivery) -> None:
    """Try a delivery again now (by hand), whatever its state or its subscription's; its
    tries count on. A disabled subscription's delivery gets that one try, and a success
    enables the subscription again."""
    delivery.by_hand = True
    delivery.status = DELIVERY_PENDING
    delivery.next_attempt_at = clock.now()
    delivery.lease_until = None
    db.session.flush()


def due(grace: float, limit: int = 200) -> list[str]:
    """Deliveries to hand to a job now: pending ones due since `grace` seconds (their own
    scheduled job should have taken them), and sending ones whose worker was lost (made
    pending again: the receiver may get that try twice, with the same id)."""
    now = clock.now()
    lost = db.session.scalars(
        select(WebhookDelivery.id)
        .where(WebhookDelivery.status == DELIVERY_SENDING, WebhookDelivery.lease_until < now)
        .with_for_update(skip_locked=True)
        .limit(limit)
    ).all()
    if lost:
        db.session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id.in_(lost))
            .values(status=DELIVERY_PENDING, lease_until=None, next_attempt_at=now)
        )
    late = now - dt.timedelta(seconds=grace)
    ids = db.session.scalars(
        select(WebhookDelivery.id)
        .where(
            WebhookDelivery.status == DELIVERY_PENDING,
            or_(WebhookDelivery.next_attempt_at <= late, WebhookDelivery.id.in_(lost)),
        )
        .order_by(WebhookDelivery.next_attempt_at)
        .limit(limit)
    ).all()
    return [str(i) for i in ids]
