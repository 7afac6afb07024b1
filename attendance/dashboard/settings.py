"""A school's settings: timezone, school days, closures and thresholds."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

import marshmallow as ma
from flask import abort, flash, redirect, render_template, request, url_for

from ..api.schemas import ClosureInSchema, SchoolInSchema, _timezones
from ..extensions import db
from ..models import Closure, School
from ..services import schools as service
from . import bp
from .auth import login_required, school_or_403
from .pipeline import school_today

WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
SAVED = "Saved. Figures that depend on this are recomputed the next time they are shown."


def _form_values(school: School) -> dict[str, Any]:
    """The form's fields as the school has them."""
    return {
        "timezone": school.timezone,
        "school_days": list(school.school_days),
        "min_daily_hours": f"{school.min_daily_hours.normalize():f}",
        "period_percent": f"{(school.period_ratio * 100).normalize():f}",
        "fever_threshold": f"{school.fever_threshold:.1f}",
    }


def _parsed(form: Any) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The posted form as API fields (validated by the API's own schema), or errors."""
    errors: dict[str, list[str]] = {}
    data: dict[str, Any] = {
        "timezone": form.get("timezone", ""),
        "school_days": [int(d) for d in form.getlist("school_days") if d.isdigit()],
        "min_daily_hours": form.get("min_daily_hours", "").strip(),
        "fever_threshold": form.get("fever_threshold", "").strip(),
    }
    try:
        percent = Decimal(form.get("period_percent", "").strip())
        data["period_ratio"] = str((percent / 100).normalize())
    except InvalidOperation:
        errors["period_percent"] = ["must be a number"]
    try:
        loaded = SchoolInSchema(partial=True).load(data)
    except ma.ValidationError as error:
        messages = error.normalized_messages()
        assert isinstance(messages, dict)  # noqa: S101 - a schema's errors are per field
        for field, msgs in messages.items():
            name = "period_percent" if field == "period_ratio" else field
            errors.setdefault(name, []).extend(msgs if isinstance(msgs, list) else [str(msgs)])
        return {}, errors
    return loaded, errors


@bp.route("/schools/<int:school_id>/settings", methods=["GET", "POST"])
@login_required
def school_settings(school_id: int) -> Any:
    """Show and change the settings that decide the figures."""
    school = school_or_403(school_id)
    values, status = _form_values(school), 200
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        data, errors = _parsed(request.form)
        if not errors:
            service.update_school(school, data)
            db.session.commit()
            flash(SAVED, "ok")
            return redirect(url_for("dashboard.school_settings", school_id=school.id))
        values = {**values, **request.form.to_dict()}
        values["school_days"] = [int(d) for d in request.form.getlist("school_days") if d.isdigit()]
        status = 422
    return render_template(
        "dashboard/settings.html",
        school=school,
        values=values,
        errors=errors,
        timezones=sorted(_timezones()),
        weekdays=list(enumerate(WEEKDAY_NAMES, start=1)),
        today=school_today(school),
        rng=None,
    ), status


@bp.post("/schools/<int:school_id>/settings/closures")
@login_required
def add_closure(school_id: int) -> Any:
    """Add a closure date (a holiday)."""
    school = school_or_403(school_id)
    try:
        data = ClosureInSchema().load(
            {"date": request.form.get("date", ""), "name": request.form.get("name") or None}
        )
    except ma.ValidationError as error:
        flash(f"The closure was not added: {_first(error)}", "error")
    else:
        closure, created = service.add_closure(school, data["date"], data.get("name"))
        db.session.commit()
        flash(SAVED if created else f"{closure.date} was already a closure.", "ok")
    return redirect(url_for("dashboard.school_settings", school_id=school.id) + "#closures")


@bp.post("/schools/<int:school_id>/settings/closures/<int:closure_id>/delete")
@login_required
def remove_closure(school_id: int, closure_id: int) -> Any:
    """Remove a closure date."""
    school = school_or_403(school_id)
    closure = db.get_or_404(Closure, closure_id)
    if closure.school_id != school.id:
        abort(404)
    service.remove_closure(closure)
    db.session.commit()
    flash(SAVED, "ok")
    return redirect(url_for("dashboard.school_settings", school_id=school.id) + "#closures")


def _first(error: ma.ValidationError) -> str:
    messages = error.normalized_messages()
    for field, msgs in messages.items() if isinstance(messages, dict) else []:
        text = msgs[0] if isinstance(msgs, list) else msgs
        return f"{field} {text}"
    return str(error)
