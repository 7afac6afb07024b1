"""Subscriptions: made with a fresh secret (shown once), listed, rotated, deleted."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select

from ...extensions import db
from ...webhook_models import Webhook
from .. import ServiceError
from . import secrets, targets


def create(data: dict[str, Any], created_by: str) -> tuple[Webhook, str]:
    """A new subscription from validated fields, and its secret (in clear, this once)."""
    url = targets.check_url(data["url"])
    if not data["event_types"]:
        raise ServiceError("event_types", "must name at least one event type")
    secret = secrets.new_secret()
    webhook = Webhook(
        url=url,
        event_types=sorted(set(data["event_types"])),
        school_id=data.get("school_id"),
        secret_encrypted=secrets.encrypt(secret),
        created_by=created_by,
    )
    db.session.add(webhook)
    db.session.flush()
    return webhook, secret


def rotate(webhook: Webhook) -> str:
    """Give the subscription a new secret (the old one signs nothing from now); returns it."""
    secret = secrets.new_secret()
    webhook.secret_encrypted = secrets.encrypt(secret)
    db.session.flush()
    return secret


def delete(webhook: Webhook) -> None:
    """Delete a subscription and its deliveries' record."""
    db.session.delete(webhook)
    db.session.flush()


def listed(school_id: int | None) -> Select[Any]:
    """The subscriptions a caller sees: of its school (None: every one), oldest first."""
    query = select(Webhook).order_by(Webhook.id)
    if school_id is not None:
        query = query.where(Webhook.school_id == school_id)
    return query


def rekey() -> int:
    """Re-encrypt every stored secret with the first WEBHOOK_SECRET_KEY; how many."""
    count = 0
    for webhook in db.session.scalars(select(Webhook).with_for_update()):
        webhook.secret_encrypted = secrets.reencrypt(webhook.secret_encrypted)
        count += 1
    db.session.flush()
    return count
