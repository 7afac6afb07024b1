"""The roll call pages: start one from the school page, tick pupils off on a phone,
reconcile, print the paper list, download it as CSV.

The phone page posts its ticks to a JSON endpoint of the dashboard itself, authenticated
by the admin's session cookie and protected by the CSRF token in an `X-CSRFToken` header
(the same token the page's forms carry; `state` hands out a fresh one). Staff phones
without a dashboard account use the API with a `staff` token instead. The page polls
`state` every 2 s: a short request that a gunicorn sync worker answers and lets go,
where server-sent events would hold one worker per open phone for the whole roll call.
"""

from __future__ import annotations

import csv
import io
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

import marshmallow as ma
from flask import Response, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_wtf.csrf import generate_csrf
from sqlalchemy import select

from .. import clock, presence
from ..extensions import db
from ..models import School, User
from ..roll_call_models import RollCall
from ..schemas.roll_calls import RollCallEntrySchema, TicksInSchema
from ..services import ServiceError, marks
from ..services import roll_call_reading as reading
from ..services import roll_calls as service
from ..wire import error_response
from . import bp
from .auth import current_admin, login_required, school_or_403

# Polled this often by the phone page (milliseconds): ticks of other phones show within it.
POLL_MS = 2000
SCOPE = "/dashboard/roll-calls/"
# The service worker's cache (rollcall-sw.js names the same one).
CACHE_NAME = "roll-call-v1"


def _by() -> str:
    admin = current_admin()
    if admin is None:  # login_required has run
        abort(401)
    return marks.creator(None, admin.id)


def _roll_call(roll_call_id: int) -> tuple[RollCall, School]:
    """The roll call and its school, if the signed-in admin may see it."""
    roll_call = db.get_or_404(RollCall, roll_call_id)
    return roll_call, school_or_403(roll_call.school_id)


def open_roll_call(school_id: int) -> RollCall | None:
    """For templates: the school's open roll call, if any."""
    return service.open_roll_call(school_id)


@bp.post("/schools/<int:school_id>/roll-calls")
@login_required
def start_roll_call(school_id: int) -> Any:
    """Start a roll call (or go to the one open already)."""
    school = school_or_403(school_id)
    roll_call, _created = service.start(school, _by())
    db.session.commit()
    return redirect(url_for("dashboard.roll_call", roll_call_id=roll_call.id))


@bp.get("/roll-calls/<int:roll_call_id>")
@login_required
def roll_call(roll_call_id: int) -> Any:
    """The phone page: tick pupils off, missing first."""
    roll_call, school = _roll_call(roll_call_id)
    doc = reading.reconcile(roll_call)
    expected = {p.user_id for p in doc.expected}
    today = presence.local_today(clock.now(), school.timezone)
    roster = reading.pupils(service.enrolled_on(school.id, today) | expected)
    everyone = reading.pupils({p.user_id for p in doc.accounted}) | roster
    data = {
        "id": roll_call.id,
        "status": doc.status,
        "pupils": [
            {
                "id": p.user_id,
                "name": p.name,
                "group": p.group,
                "external_id": p.external_id,
                "expected": p.user_id in expected,
            }
            for p in reading.ordered(everyone, everyone)
        ],
        "accounted": [p.user_id for p in doc.accounted],
        "left": [p.user_id for p in doc.left],
        "state_url": url_for("dashboard.roll_call_state", roll_call_id=roll_call.id),
        "ticks_url": url_for("dashboard.roll_call_ticks", roll_call_id=roll_call.id),
        "worker_url": url_for("dashboard.roll_call_worker"),
        "scope": SCOPE,
        "cache_name": CACHE_NAME,
        "poll_ms": POLL_MS,
        "csrf_token": generate_csrf(),
    }
    groups = sorted({p.group for p in doc.expected if p.group})
    return render_template(
        "dashboard/roll_call.html",
        school=school,
        doc=doc,
        data=data,
        groups=groups,
        zone=ZoneInfo(school.timezone),
    )


@bp.get("/roll-calls/<int:roll_call_id>/state")
@login_required
def roll_call_state(roll_call_id: int) -> Any:
    """What the phone page polls: status, counts, who is accounted for, a fresh CSRF token."""
    roll_call, _school = _roll_call(roll_call_id)
    doc = reading.reconcile(roll_call)
    response = jsonify(
        {
            "status": doc.status,
            "counts": doc.counts,
            "accounted": [p.user_id for p in doc.accounted],
            "left": [p.user_id for p in doc.left],
            "csrf_token": generate_csrf(),
        }
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/roll-calls/<int:roll_call_id>/accounted")
@login_required
def roll_call_ticks(roll_call_id: int) -> Any:
    """The phone page's ticks: the API's body and answer, with the session's CSRF token."""
    roll_call, _school = _roll_call(roll_call_id)
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return error_response({"detail": "The body must be a JSON object."}, 400)
    try:
        data = TicksInSchema().load(body)
    except ma.ValidationError as error:
        return error_response(error.normalized_messages(), 422)
    many = "accounted" in data
    ticks = data["accounted"] if many else [data]
    done = service.record(roll_call, ticks, _by(), field="accounted" if many else "user_id")
    db.session.commit()
    entries = RollCallEntrySchema(many=True).dump(done.entries)
    return jsonify({"data": entries if many else entries[0]}), 201 if done.created else 200


@bp.get("/roll-calls/<int:roll_call_id>/reconcile")
@login_required
def roll_call_reconcile(roll_call_id: int) -> Any:
    """Counts and the four lists; a present mark for each unexpected pupil; closing."""
    roll_call, school = _roll_call(roll_call_id)
    doc = reading.reconcile(roll_call)
    return render_template(
        "dashboard/roll_call_reconcile.html", school=school, doc=doc, zone=ZoneInfo(school.timezone)
    )


@bp.post("/roll-calls/<int:roll_call_id>/mark-present")
@login_required
def roll_call_mark_present(roll_call_id: int) -> Any:
    """Mark an unexpected pupil present on the roll call's date (reason "roll call")."""
    roll_call, school = _roll_call(roll_call_id)
    user_id = request.form.get("user_id", type=int)
    user = db.session.get(User, user_id) if user_id is not None else None
    if user is None:
        abort(400)
    day = presence.local_date(roll_call.started_at, school.timezone)
    try:
        marks.record(
            school,
            {"user_id": user.id, "date": day, "status": "present", "reason": "roll call"},
            _by(),
        )
    except ServiceError as error:
        db.session.rollback()
        flash(f"{user.name} could not be marked present: {error.message}", "error")
    else:
        db.session.commit()
        flash(f"{user.name} is marked present on {day:%d %b} (reason: roll call).", "ok")
    return redirect(url_for("dashboard.roll_call_reconcile", roll_call_id=roll_call.id))


@bp.post("/roll-calls/<int:roll_call_id>/close")
@login_required
def roll_call_close(roll_call_id: int) -> Any:
    """Close the roll call; it stays readable."""
    roll_call, _school = _roll_call(roll_call_id)
    service.close(roll_call, _by())
    db.session.commit()
    flash("The roll call is closed. It is kept as a record.", "ok")
    return redirect(url_for("dashboard.roll_call_reconcile", roll_call_id=roll_call.id))


@bp.get("/schools/<int:school_id>/roll-calls")
@login_required
def roll_calls(school_id: int) -> Any:
    """The school's roll calls, newest first."""
    school = school_or_403(school_id)
    rows = db.session.scalars(
        select(RollCall)
        .where(RollCall.school_id == school.id)
        .order_by(RollCall.started_at.desc(), RollCall.id.desc())
        .limit(100)
    )
    docs = [reading.reconcile(r) for r in rows]
    return render_template(
        "dashboard/roll_calls.html", school=school, docs=docs, zone=ZoneInfo(school.timezone)
    )


@bp.get("/roll-calls/<int:roll_call_id>/print")
@login_required
def roll_call_print(roll_call_id: int) -> Any:
    """The paper fallback: the expected list by group, with tick boxes."""
    roll_call, school = _roll_call(roll_call_id)
    doc = reading.reconcile(roll_call)
    by_group: dict[str, list[reading.Pupil]] = {}
    for pupil in doc.expected:
        by_group.setdefault(pupil.group or "No group", []).append(pupil)
    return render_template(
        "dashboard/roll_call_print.html",
        school=school,
        doc=doc,
        by_group=by_group,
        zone=ZoneInfo(school.timezone),
    )


@bp.get("/roll-calls/<int:roll_call_id>/expected.csv")
@login_required
def roll_call_csv(roll_call_id: int) -> Any:
    """The expected list (and the unexpected pupils) as CSV, with where each one stands."""
    roll_call, school = _roll_call(roll_call_id)
    doc = reading.reconcile(roll_call)
    accounted = {p.user_id for p in doc.accounted}
    left = {p.user_id for p in doc.left}
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["group", "name", "external_id", "user_id", "expected", "accounted", "left"])
    for pupil, expected in [(p, True) for p in doc.expected] + [(p, False) for p in doc.unexpected]:
        writer.writerow(
            [
                pupil.group or "",
                _cell(pupil.name),
                _cell(pupil.external_id or ""),
                pupil.user_id,
                "yes" if expected else "no",
                "yes" if pupil.user_id in accounted else "no",
                "yes" if pupil.user_id in left else "no",
            ]
        )
    name = f"roll-call-{roll_call.id}-{roll_call.started_at:%Y%m%d-%H%M}.csv"
    return Response(
        out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _cell(text: str) -> str:
    """A cell a spreadsheet will not run as a formula."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@bp.get("/roll-calls/sw.js")
def roll_call_worker() -> Response:
    """The service worker that keeps the roll call pages opening when the network drops.

    Served from here, not /static, so its scope covers the roll call pages (a worker
    controls the pages under its own path); it caches the page and its scripts and styles."""
    source = resources.files("attendance") / "static" / "dashboard" / "rollcall-sw.js"
    response = Response(source.read_text(encoding="utf-8"), mimetype="text/javascript")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["Service-Worker-Allowed"] = SCOPE
    return response
