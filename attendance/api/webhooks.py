"""/api/webhooks: subscriptions to events, their secrets, and their deliveries."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import abort, url_for
from flask.views import MethodView
from marshmallow import fields, validate
from sqlalchemy import select

from ..extensions import db
from ..jobs.webhooks import send_soon
from ..models import School
from ..schemas.fields import BodySchema, StrictInteger, unique
from ..security.principals import allow, claim_school, current
from ..security.roles import DISTRICT, SCHOOL
from ..services import ServiceError
from ..services.marks import creator
from ..services.webhooks import delivery, subscriptions, targets
from ..webhook_models import WEBHOOK_EVENT_TYPES, Webhook, WebhookDelivery
from .common import Blueprint, PageArgs, envelope, get_or_404, paginate

blp = Blueprint(
    "webhooks", __name__, url_prefix="/api/webhooks", description="Webhook subscriptions"
)


class WebhookInSchema(BodySchema):
    envelope = "webhook"

    url = fields.String(
        required=True,
        validate=validate.Length(min=1, max=targets.MAX_URL),
        metadata={"description": "https:// (http:// only for WEBHOOK_ALLOW_NETWORKS)"},
    )
    event_types = fields.List(
        fields.String(validate=validate.OneOf(WEBHOOK_EVENT_TYPES)),
        required=True,
        validate=[validate.Length(min=1, error="must name at least one event type"), unique],
    )
    school_id = StrictInteger(
        allow_none=True,
        metadata={
            "description": "null: every school (district tokens only); absent: the "
            "caller's school (school tokens) or every school (district tokens)"
        },
    )


class WebhookSchema(ma.Schema):
    id = fields.Integer()
    url = fields.String()
    event_types = fields.List(fields.String())
    school_id = fields.Integer(allow_none=True)
    enabled = fields.Boolean()
    failing_since = fields.AwareDateTime(allow_none=True)
    disabled_at = fields.AwareDateTime(allow_none=True)
    created_at = fields.AwareDateTime()


class WebhookWithSecretSchema(WebhookSchema):
    secret = fields.String(metadata={"description": "Shown in this answer only"})


class DeliverySchema(ma.Schema):
    id = fields.String(metadata={"description": "The webhook-id header of every try"})
    event_type = fields.String()
    status = fields.String(metadata={"enum": ["pending", "sending", "delivered", "failed"]})
    attempts = fields.Integer()
    last_status_code = fields.Integer(allow_none=True)
    last_error = fields.String(allow_none=True)
    last_attempt_at = fields.AwareDateTime(allow_none=True)
    next_attempt_at = fields.AwareDateTime(allow_none=True)
    created_at = fields.AwareDateTime()


def _with_secret(webhook: Webhook, secret: str) -> dict[str, Any]:
    """The subscription's fields (by attribute) and its secret in clear, for one answer."""
    shown = {name: getattr(webhook, name) for name in WebhookSchema().fields}
    return {**shown, "secret": secret}


@blp.route("")
class Webhooks(MethodView):
    @allow(SCHOOL)
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, envelope(WebhookSchema, many=True))
    def get(self, page: dict[str, Any]) -> Any:
        """List subscriptions (a school admin sees its school's); secrets are never shown."""
        principal = current()
        school_id = None if principal.role == DISTRICT else principal.school_id
        return paginate(subscriptions.listed(school_id), page)

    @allow(SCHOOL)
    @blp.arguments(WebhookInSchema)
    @blp.response(201, envelope(WebhookWithSecretSchema))
    def post(self, data: dict[str, Any]) -> Any:
        """Subscribe a URL to events of one school (or every school); answers the secret once."""
        principal = current()
        if "school_id" not in data:
            data["school_id"] = principal.school_id if principal.role == SCHOOL else None
        claim_school(data["school_id"])
        if data["school_id"] is not None and db.session.get(School, data["school_id"]) is None:
            raise ServiceError("school_id", "no such school")
        webhook, secret = subscriptions.create(data, _created_by())
        db.session.commit()
        location = url_for(".WebhookItem", webhook_id=webhook.id)
        return {"data": _with_secret(webhook, secret)}, 201, {"Location": location}


@blp.route("/<int:webhook_id>")
class WebhookItem(MethodView):
    @allow(SCHOOL)
    @blp.response(200, envelope(WebhookSchema))
    def get(self, webhook_id: int) -> Any:
        """Show a subscription (without its secret)."""
        return {"data": get_or_404(Webhook, webhook_id)}

    @allow(SCHOOL)
    @blp.response(204)
    def delete(self, webhook_id: int) -> None:
        """Delete a subscription and the record of its deliveries."""
        subscriptions.delete(get_or_404(Webhook, webhook_id))
        db.session.commit()


@blp.route("/<int:webhook_id>/rotate-secret")
class RotateSecret(MethodView):
    @allow(SCHOOL)
    @blp.response(200, envelope(WebhookWithSecretSchema))
    def post(self, webhook_id: int) -> Any:
        """Give the subscription a new secret, answered this once; the old one signs no more."""
        webhook = get_or_404(Webhook, webhook_id)
        secret = subscriptions.rotate(webhook)
        db.session.commit()
        return {"data": _with_secret(webhook, secret)}


@blp.route("/<int:webhook_id>/deliveries")
class Deliveries(MethodView):
    @allow(SCHOOL)
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, envelope(DeliverySchema, many=True))
    def get(self, page: dict[str, Any], webhook_id: int) -> Any:
        """The subscription's deliveries, newest first, with their tries and last answer."""
        get_or_404(Webhook, webhook_id)
        query = (
            select(WebhookDelivery)
            .where(WebhookDelivery.webhook_id == webhook_id)
            .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id)
        )
        return paginate(query, page)


@blp.route("/<int:webhook_id>/deliveries/<string:delivery_id>/redeliver")
class Redeliver(MethodView):
    @allow(SCHOOL)
    @blp.response(202, envelope(DeliverySchema))
    def post(self, webhook_id: int, delivery_id: str) -> Any:
        """Send a delivery again now, with the same id (its tries count on); 202."""
        get_or_404(Webhook, webhook_id)
        found = db.session.get(WebhookDelivery, delivery_id)
        if found is None or found.webhook_id != webhook_id:
            abort(404)
        delivery.redeliver(found)
        db.session.commit()
        send_soon([found.id])
        db.session.refresh(found)
        return {"data": found}, 202


def _created_by() -> str:
    principal = current()
    return creator(principal.token_id, principal.admin_id)
