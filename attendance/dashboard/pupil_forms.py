"""The pupil page's forms: mark a day or a range, clear a mark, edit the enrolment, move
to another school. Each goes through the service the API uses, with the API's schema;
errors show the page again (422) with the message under the field it names."""

from __future__ import annotations

import re
from typing import Any

import marshmallow as ma
from flask import abort, flash, g, redirect, request, url_for
from werkzeug.datastructures import MultiDict

from ..extensions import db
from ..models import Mark, School, User
from ..schemas.marks import MarkInSchema
from ..schemas.users import UserInSchema
from ..security.roles import DISTRICT
from ..services import ServiceError
from ..services import marks as mark_service
from ..services import users as user_service
from . import bp
from .auth import current_admin, login_required
from .pupil import pupil_of, render_user

Errors = dict[str, list[str]]
ID = re.compile(r"[0-9]{1,18}")
# A form's errors that name no field of the form are shown above it.
FORM = "form"


def _back(school_id: int, user_id: int) -> Any:
    """The pupil page, over the range it showed (the form's action carries it)."""
    args: dict[str, Any] = {k: request.args[k] for k in ("from", "to") if request.args.get(k)}
    return redirect(url_for("dashboard.user", school_id=school_id, user_id=user_id, **args))


def _again(school: School, person: User, form: str, errors: Errors) -> Any:
    """The pupil page again, with this form's values and errors (422)."""
    # Links and the range picker of the page point at the page, not at this form's route.
    g.page = ("dashboard.user", {"school_id": school.id, "user_id": person.id})
    values = request.form.to_dict()
    values.pop("csrf_token", None)
    return render_user(school, person, {form: {"values": values, "errors": errors}}, 422)


def _schema_errors(error: ma.ValidationError, fields: tuple[str, ...]) -> Errors:
    """A schema's messages by form field; those of other fields go above the form."""
    messages = error.normalized_messages()
    found: Errors = {}
    for field, msgs in messages.items() if isinstance(messages, dict) else [(FORM, messages)]:
        texts = [str(m) for m in (msgs if isinstance(msgs, list) else [msgs])]
        if field in fields:
            found.setdefault(str(field), []).extend(texts)
        else:
            found.setdefault(FORM, []).extend(f"{field}: {t}" for t in texts)
    return found


def _service_errors(error: ServiceError, fields: tuple[str, ...]) -> Errors:
    if error.field in fields:
        return {error.field: [error.message]}
    return {FORM: [error.message if error.field == "detail" else f"{error.field} {error.message}"]}


def _flag(form: MultiDict[str, str], name: str) -> Any:
    """A checkbox: False when absent; anything but "true" goes to the schema to refuse."""
    value = form.get(name, "")
    return {"": False, "true": True}.get(value, value)


MARK_FIELDS = ("date", "from", "to", "status", "excused", "reason")


@bp.post("/schools/<int:school_id>/users/<int:user_id>/marks")
@login_required
def mark_user(school_id: int, user_id: int) -> Any:
    """Mark one day, or each school day of a range (a planned absence)."""
    school, person = pupil_of(school_id, user_id)
    form = request.form
    data: dict[str, Any] = {
        "user_id": person.id,
        "status": form.get("status", ""),
        "reason": form.get("reason", ""),
        "excused": _flag(form, "excused"),
    }
    data.update({k: form[k].strip() for k in ("date", "from", "to") if form.get(k, "").strip()})
    try:
        loaded = MarkInSchema().load(data)
        admin = current_admin()
        marks = mark_service.record(
            school, loaded, mark_service.creator(None, admin.id if admin else None)
        )
    except ma.ValidationError as error:
        return _again(school, person, "mark", _schema_errors(error, MARK_FIELDS))
    except ServiceError as error:
        db.session.rollback()
        return _again(school, person, "mark", _service_errors(error, MARK_FIELDS))
    db.session.commit()
    what = marks[0].status + (", excused" if marks[0].excused else "")
    span = str(marks[0].date) if len(marks) == 1 else f"{len(marks)} school days"
    flash(f"Marked {what} on {span}. The figures below include it.", "ok")
    return _back(school.id, person.id)


@bp.post("/schools/<int:school_id>/users/<int:user_id>/marks/<int:mark_id>/clear")
@login_required
def clear_mark(school_id: int, user_id: int, mark_id: int) -> Any:
    """Clear the pupil's mark on a date (the history keeps it)."""
    school, person = pupil_of(school_id, user_id)
    mark = db.session.get(Mark, mark_id)
    if mark is None or mark.school_id != school.id or mark.user_id != person.id:
        abort(404)
    admin = current_admin()
    mark_service.clear(mark, mark_service.creator(None, admin.id if admin else None))
    db.session.commit()
    flash(f"The mark on {mark.date} was cleared. The figures below follow the rules again.", "ok")
    return _back(school.id, person.id)


ENROLMENT_FIELDS = ("enrolled_from", "enrolled_until")


def _changeable(school_id: int, user_id: int) -> tuple[School, User]:
    """The pupil, unless archived (as the API: an archived user is not changed, 404)."""
    school, person = pupil_of(school_id, user_id)
    if person.deleted_at is not None:
        abort(404)
    return school, person


@bp.post("/schools/<int:school_id>/users/<int:user_id>/enrolment")
@login_required
def edit_enrolment(school_id: int, user_id: int) -> Any:
    """Change the dates of the pupil's latest enrolment (empty: open)."""
    school, person = _changeable(school_id, user_id)
    data = {k: request.form.get(k, "").strip() or None for k in ENROLMENT_FIELDS}
    try:
        loaded = UserInSchema(partial=True).load(data)
        user_service.update_user(person, loaded)
    except ma.ValidationError as error:
        return _again(school, person, "enrolment", _schema_errors(error, ENROLMENT_FIELDS))
    except ServiceError as error:
        db.session.rollback()
        return _again(school, person, "enrolment", _service_errors(error, ENROLMENT_FIELDS))
    db.session.commit()
    flash("The enrolment dates were saved. The figures below count them.", "ok")
    return _back(school.id, person.id)


MOVE_FIELDS = ("school_id", "enrolled_from")


@bp.post("/schools/<int:school_id>/users/<int:user_id>/move")
@login_required
def move_user(school_id: int, user_id: int) -> Any:
    """Move the pupil to another school (district admins only)."""
    school, person = _changeable(school_id, user_id)
    admin = current_admin()
    if admin is None or admin.role != DISTRICT:
        abort(403)
    target = request.form.get("school_id", "").strip()
    data: dict[str, Any] = {
        "school_id": int(target) if ID.fullmatch(target) else target,
        "enrolled_from": request.form.get("enrolled_from", "").strip() or None,
    }
    if data["enrolled_from"] is None:
        del data["enrolled_from"]  # the new school's today, as the API's move
    try:
        loaded = UserInSchema(partial=True).load(data)
        if loaded["school_id"] == school.id:
            raise ServiceError("school_id", "is the pupil's school already")
        user_service.update_user(person, loaded)
    except ma.ValidationError as error:
        return _again(school, person, "move", _schema_errors(error, MOVE_FIELDS))
    except ServiceError as error:
        db.session.rollback()
        return _again(school, person, "move", _service_errors(error, MOVE_FIELDS))
    db.session.commit()
    flash(f"{person.name} was moved to {person.school.name}.", "ok")
    return redirect(url_for("dashboard.user", school_id=person.school_id, user_id=person.id))
