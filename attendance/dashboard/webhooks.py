"""Webhooks on the dashboard: subscribe (the secret shown once), rotate, delete, deliveries."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from ..extensions import db
from ..jobs.webhooks import send_soon
from ..models import School
from ..security.roles import DISTRICT
from ..services import ServiceError
from ..services.marks import creator
from ..services.webhooks import delivery, subscriptions
from ..webhook_models import WEBHOOK_EVENT_TYPES, Webhook, WebhookDelivery
from . import bp
from .auth import current_admin, login_required

EVENT_LABELS = {
    "attendance.fever": "A fever at the gate",
    "pupil.absence_streak": "A pupil absent for the school's streak of days",
    "pupil.chronic": "A pupil who just became chronically absent",
    "school.day_closed": "The day's figures, when the school's day closes",
}
DELIVERIES_SHOWN = 100


def _schools() -> list[School]:
    """The schools the admin may subscribe to."""
    admin = current_admin()
    assert admin is not None  # noqa: S101 - login_required ran
    query = select(School).order_by(School.name, School.id)
    if admin.role != DISTRICT:
        query = query.where(School.id == admin.school_id)
    return list(db.session.scalars(query))


def _webhook_or_404(webhook_id: int) -> Webhook:
    """A subscription the admin may see (404 otherwise, as the API answers)."""
    admin = current_admin()
    webhook = db.get_or_404(Webhook, webhook_id)
    if admin is None or (admin.role != DISTRICT and webhook.school_id != admin.school_id):
        abort(404)
    return webhook


def _page(status: int = 200, **context: Any) -> Any:
    admin = current_admin()
    assert admin is not None  # noqa: S101 - login_required ran
    school_id = None if admin.role == DISTRICT else admin.school_id
    hooks = list(db.session.scalars(subscriptions.listed(school_id)))
    names = {s.id: s.name for s in _schools()}
    values = context.pop("values", {"url": "", "event_types": [], "school_id": ""})
    return render_template(
        "dashboard/webhooks.html",
        hooks=hooks,
        schools=_schools(),
        school_names=names,
        labels=EVENT_LABELS,
        event_types=WEBHOOK_EVENT_TYPES,
        values=values,
        errors=context.pop("errors", {}),
        school=None,
        **context,
    ), status


@bp.get("/webhooks")
@login_required
def webhooks() -> Any:
    """The admin's subscriptions, and a form to add one."""
    return _page()


@bp.post("/webhooks")
@login_required
def add_webhook() -> Any:
    """Subscribe; the page answers the secret this once (it is never stored in clear)."""
    admin = current_admin()
    assert admin is not None  # noqa: S101 - login_required ran
    form = request.form
    values = {
        "url": form.get("url", "").strip(),
        "event_types": form.getlist("event_types"),
        "school_id": form.get("school_id", ""),
    }
    errors: dict[str, list[str]] = {}
    allowed = {str(s.id): s.id for s in _schools()}
    school_id: int | None
    if values["school_id"] == "" and admin.role == DISTRICT:
        school_id = None
    elif values["school_id"] in allowed:
        school_id = allowed[values["school_id"]]
    else:
        errors["school_id"] = ["choose a school"]
        school_id = None
    unknown = set(values["event_types"]) - set(WEBHOOK_EVENT_TYPES)
    if not values["event_types"] or unknown:
        errors["event_types"] = ["tick at least one event"]
    if not values["url"]:
        errors["url"] = ["is required"]
    if not errors:
        data = {"url": values["url"], "event_types": values["event_types"], "school_id": school_id}
        try:
            webhook, secret = subscriptions.create(data, creator(None, admin.id))
        except ServiceError as error:
            errors[error.field] = [error.message]
        else:
            db.session.commit()
            return _page(201, shown_secret=secret, shown_for=webhook)
    return _page(422, values=values, errors=errors)


@bp.post("/webhooks/<int:webhook_id>/rotate")
@login_required
def rotate_webhook_secret(webhook_id: int) -> Any:
    """A new secret, shown this once; the old one signs nothing from now on."""
    webhook = _webhook_or_404(webhook_id)
    secret = subscriptions.rotate(webhook)
    db.session.commit()
    return _page(200, shown_secret=secret, shown_for=webhook)


@bp.post("/webhooks/<int:webhook_id>/delete")
@login_required
def delete_webhook(webhook_id: int) -> Any:
    """Delete a subscription and its deliveries' record."""
    subscriptions.delete(_webhook_or_404(webhook_id))
    db.session.commit()
    flash("The subscription was deleted.", "ok")
    return redirect(url_for("dashboard.webhooks"))


@bp.get("/webhooks/<int:webhook_id>")
@login_required
def webhook_deliveries(webhook_id: int) -> Any:
    """A subscription's latest deliveries: status, tries, last answer; redeliver."""
    webhook = _webhook_or_404(webhook_id)
    rows = db.session.scalars(
        select(WebhookDelivery)
        .where(WebhookDelivery.webhook_id == webhook.id)
        .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id)
        .limit(DELIVERIES_SHOWN)
    ).all()
    names = {s.id: s.name for s in _schools()}
    return render_template(
        "dashboard/webhook.html",
        hook=webhook,
        deliveries=rows,
        school_names=names,
        labels=EVENT_LABELS,
        shown=DELIVERIES_SHOWN,
        school=None,
    )


@bp.post("/webhooks/<int:webhook_id>/deliveries/<string:delivery_id>/redeliver")
@login_required
def redeliver_webhook(webhook_id: int, delivery_id: str) -> Any:
    """Send a delivery again now, with the same webhook-id."""
    webhook = _webhook_or_404(webhook_id)
    found = db.session.get(WebhookDelivery, delivery_id)
    if found is None or found.webhook_id != webhook.id:
        abort(404)
    delivery.redeliver(found)
    db.session.commit()
    send_soon([found.id])
    flash("Sent again; the list shows its latest try.", "ok")
    return redirect(url_for("dashboard.webhook_deliveries", webhook_id=webhook.id))
