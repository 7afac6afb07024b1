"""A school's settings: timezone, school days, closures and thresholds."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

import marshmallow as ma
from flask import abort, flash, redirect, render_template, request, url_for

from ..extensions import db
from ..models import Closure, School
from ..schemas.fields import timezones
from ..schemas.schools import ClosureInSchema, SchoolInSchema
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
        "day_end": _wall(school.day_end),
        "late_after": _wall(school.late_after),
        "chronic_percent": f"{(school.chronic_ratio * 100).normalize():f}",
        "chronic_min_days": str(school.chronic_min_days),
        "alert_streak_days": str(school.alert_streak_days),
        "year_start": school.year_start,
    }


def _wall(value: dt.time | None) -> str:
    """A wall time as the form shows it: "HH:MM", or empty for none."""
    return "" if value is None else value.strftime("%H:%M")


# What the form's number fields accept: plain ASCII decimals of sensible length. `int()` and
# `Decimal()` take much more (other scripts' digits, "²" passes isdigit(), exponents such as
# 1e999999999 that overflow later arithmetic, thousands of digits): each of those was a 500.
NUMBER = re.compile(r"-?[0-9]{1,9}(?:\.[0-9]{1,9})?")
DAY = re.compile(r"[0-9]{1,9}")
NOT_A_NUMBER = "must be a number"
# The schema speaks of a ratio; the form asks for a percentage.
PERCENT_MESSAGES = {
    "must be from 0 to under 1": "must be from 0 to under 100",
    "must have at most 3 decimal places": "must have at most 1 decimal place",
    "must be over 0 and at most 1": "must be over 0 and at most 100",
    "must have at most 2 decimal places": "must be a whole number",
}
# Form fields that the form asks as a percentage, by the schema's ratio they fill.
PERCENT_FIELDS = {"period_ratio": "period_percent", "chronic_ratio": "chronic_percent"}
NOT_A_TIME = 'must be a time "HH:MM" from 00:00 to 23:59, or empty for none'


def _days(form: Any) -> list[int] | None:
    """The ticked school days as numbers, or None when one is not a number at all."""
    values = form.getlist("school_days")
    if not all(DAY.fullmatch(value) for value in values):
        return None
    return [int(value) for value in values]


def _messages(msgs: Any) -> list[str]:
    """A schema's messages for one field, flat (a list's are keyed by item index)."""
    if isinstance(msgs, dict):
        return [m for item in msgs.values() for m in _messages(item)]
    if isinstance(msgs, list):
        return [str(m) for m in msgs]
    return [str(msgs)]


def _parsed(form: Any) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The posted form as API fields (validated by the API's own schema), or errors."""
    errors: dict[str, list[str]] = {}
    data: dict[str, Any] = {"timezone": form.get("timezone", "")}
    days = _days(form)
    if days is None:
        errors["school_days"] = ["must be ISO weekdays 1 to 7"]
    else:
        data["school_days"] = days
    for name in ("min_daily_hours", "fever_threshold"):
        text = form.get(name, "").strip()
        if NUMBER.fullmatch(text):
            data[name] = text
        else:
            errors[name] = [NOT_A_NUMBER]
    for ratio, name in PERCENT_FIELDS.items():
        percent = form.get(name, "").strip()
        if NUMBER.fullmatch(percent):
            data[ratio] = str(Decimal(percent).scaleb(-2).normalize())
        else:
            errors[name] = [NOT_A_NUMBER]
    days_text = form.get("chronic_min_days", "").strip()
    if DAY.fullmatch(days_text):
        data["chronic_min_days"] = int(days_text)
    else:
        errors["chronic_min_days"] = ["must be a whole number"]
    # Alerts (docs/webhooks.md); a form without them (an older page) leaves them as they are.
    if "alert_streak_days" in form:
        streak = form.get("alert_streak_days", "").strip()
        if DAY.fullmatch(streak):
            data["alert_streak_days"] = int(streak)
        else:
            errors["alert_streak_days"] = ["must be a whole number"]
    if "year_start" in form:
        data["year_start"] = form.get("year_start", "").strip()
    for name in ("day_end", "late_after"):
        # Empty means none (the rule is off); the schema checks the rest and says why.
        data[name] = form.get(name, "").strip() or None
    try:
        loaded = SchoolInSchema(partial=True).load(data)
    except ma.ValidationError as error:
        messages = error.normalized_messages()
        assert isinstance(messages, dict)  # noqa: S101 - a schema's errors are per field
        for field, msgs in messages.items():
            if field in PERCENT_FIELDS:
                name, found = (
                    PERCENT_FIELDS[str(field)],
                    [PERCENT_MESSAGES.get(m, m) for m in _messages(msgs)],
                )
            elif field in ("day_end", "late_after"):
                name, found = str(field), [NOT_A_TIME]
            else:
                name, found = str(field), _messages(msgs)
            errors.setdefault(name, []).extend(found)
        return {}, errors
    return ({}, errors) if errors else (loaded, errors)


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
        values["school_days"] = _days(request.form) or []
        status = 422
    return render_template(
        "dashboard/settings.html",
        school=school,
        values=values,
        errors=errors,
        timezones=sorted(timezones()),
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
