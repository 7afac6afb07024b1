"""The dashboard's pages: thin routes that ask the report pipeline and render templates."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from collections.abc import Callable, Iterable
from typing import Any
from zoneinfo import ZoneInfo

from flask import abort, jsonify, redirect, render_template, request, url_for
from sqlalchemy import func, select
from werkzeug.wrappers import Response

from ..extensions import db
from ..models import Attendance, School, User
from ..services import fever as fever_service
from ..services.attendances import filtered
from ..services.users import active_users
from . import bp, charts, export, figures, page_url, pipeline
from .auth import DISTRICT, can_see, current_admin, login_required, school_or_403
from .params import Range, parse_page, parse_range, parse_sort, presets

USERS_PER_PAGE = 25
FEVER_ROWS = 100


@bp.app_context_processor
def _layout() -> dict[str, Any]:
    """The signed-in admin and, for district admins, the school switcher's list."""
    if request.blueprint != "dashboard":
        return {}
    admin = current_admin()
    schools: list[School] = []
    if admin is not None and admin.role == DISTRICT:
        schools = list(db.session.scalars(select(School).order_by(School.name, School.id)))
    return {"admin": admin, "nav_schools": schools}


def _pinned() -> list[Any]:
    """Reports the page names in `?reports=` (set by the page itself after polling)."""
    ids = [i for i in request.args.get("reports", "").split(",") if i][:200]
    return pipeline.load(ids)


def _pending(records: Iterable[Any]) -> list[str]:
    return [str(r.id) for r in records if r.status not in (pipeline.FINISHED, pipeline.FAILED)]


def _refresh_url(records: Iterable[Any]) -> str:
    """This page, pinned to its reports: what the progress script fetches once they finish."""
    return page_url({**request.args.to_dict(), "reports": ",".join(str(r.id) for r in records)})


# -- overview --------------------------------------------------------------------------------

OVERVIEW_SORTS = ("name", "enrolled", "in_school", "present", "absent", "rate", "fever_alerts")


@bp.get("/")
@login_required
def overview() -> Any:
    """Every school today (district admins); a school admin goes straight to their school."""
    admin = current_admin()
    assert admin is not None  # noqa: S101 - login_required guarantees it
    if admin.role != DISTRICT:
        if admin.school_id is None:
            abort(403)
        return redirect(url_for("dashboard.school", school_id=admin.school_id))
    pinned = _pinned()
    rows, records = [], []
    for school in db.session.scalars(select(School).order_by(School.name, School.id)):
        today = pipeline.school_today(school)
        record = pipeline.report_for(school, today, today, "day", pinned)
        records.append(record)
        rows.append({"school": school, "today": _today(school, today, record), "report": record})
    sort = parse_sort(request.args, OVERVIEW_SORTS, "name")
    rows = _sorted(rows, sort.key, sort.descending, _overview_value)
    return render_template(
        "dashboard/overview.html",
        rows=rows,
        sort=sort,
        pending=_pending(records),
        refresh_url=_refresh_url(records),
    )


def _overview_value(row: dict[str, Any], key: str) -> Any:
    if key == "name":
        return row["school"].name.casefold()
    return None if row["today"] is None else getattr(row["today"], key)


def _sorted(
    rows: list[Any], key: str, descending: bool, value: Callable[[Any, str], Any]
) -> list[Any]:
    """Sort by one column; rows without a figure come last either way."""
    known = [r for r in rows if value(r, key) is not None]
    unknown = [r for r in rows if value(r, key) is None]
    return sorted(known, key=lambda r: value(r, key), reverse=descending) + unknown


def _today(school: School, today: dt.date, record: Any) -> figures.Today | None:
    """Today's figures from a finished one-day report (None until it finishes)."""
    if record.status != pipeline.FINISHED:
        return None
    alerts = fever_service.fever_count(school, today, today)
    return figures.today_figures(record.result, today, alerts)


@bp.get("/schools/go")
@login_required
def switch_school() -> Any:
    """The school switcher's target."""
    school_id = request.args.get("school_id", type=int)
    if school_id is None:
        return redirect(url_for("dashboard.overview"))
    return redirect(url_for("dashboard.school", school_id=school_id))


# -- one school ------------------------------------------------------------------------------


def _school_range(school: School) -> tuple[dt.date, Range, list[str]]:
    today = pipeline.school_today(school)
    rng, notes = parse_range(request.args, today)
    return today, rng, notes


@bp.get("/schools/<int:school_id>")
@login_required
def school(school_id: int) -> Any:
    """A school: today's tiles, the range's charts, fever events and data quality."""
    school = school_or_403(school_id)
    today, rng, notes = _school_range(school)
    pinned = _pinned()
    today_record = pipeline.report_for(school, today, today, "day", pinned)
    record = pipeline.report_for(school, rng.start, rng.end, rng.granularity, pinned)
    context: dict[str, Any] = {
        "school": school,
        "today": today,
        "rng": rng,
        "notes": notes,
        "presets": presets(today, rng.granularity),
        "kpis": _today(school, today, today_record),
        "report": record,
        "pending": _pending([today_record, record]),
        "refresh_url": _refresh_url([today_record, record]),
    }
    if record.status == pipeline.FINISHED:
        context.update(_range_figures(school, rng, record))
    return render_template("dashboard/school.html", **context)


def _range_figures(school: School, rng: Range, record: Any) -> dict[str, Any]:
    """Charts, tables and panels of a finished range report."""
    result = record.result
    buckets = result["buckets"]
    events = fever_service.fever_events(school, rng.start, rng.end)
    events = events.order_by(None).order_by(Attendance.timestamp.desc(), Attendance.id.desc())
    fever_total = fever_service.fever_count(school, rng.start, rng.end)
    temperatures = fever_service.temperature_counts(school, rng.start, rng.end)
    return {
        "result": result,
        "rate": figures.percent(result["presences"], result["enrolled"]),
        "rates": charts.rates(buckets, rng.granularity),
        "labels": [charts.bucket_label(b, rng.granularity) for b in buckets],
        "charts": {
            "presence": charts.presence_bars(buckets, rng.granularity),
            "rate": charts.rate_line(buckets, rng.granularity, school.period_ratio),
            "arrivals": charts.arrival_histogram(figures.arrival_minutes(result, school.timezone)),
            "temperatures": charts.temperature_histogram(temperatures, school.fever_threshold),
        },
        "fever_events": list(db.session.scalars(events.limit(FEVER_ROWS))),
        "fever_total": fever_total,
        "quality": figures.data_quality(result),
        "zone": ZoneInfo(school.timezone),
    }


@bp.get("/schools/<int:school_id>/report.csv")
@login_required
def report_csv(school_id: int) -> Any:
    """The report shown on the school page, as CSV."""
    school = school_or_403(school_id)
    _today_, rng, _notes = _school_range(school)
    record = pipeline.report_for(school, rng.start, rng.end, rng.granularity, _pinned())
    if record.status == pipeline.FAILED:
        return _plain(f"The report failed: {record.error}", 500)
    if record.status != pipeline.FINISHED:
        response = _plain("The report is still being computed; try again in a moment.", 503)
        response.headers["Retry-After"] = "2"
        return response
    name = export.filename(school, rng)
    return Response(
        export.report_csv(record.result, rng),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _plain(text: str, status: int) -> Response:
    return Response(text + "\n", status=status, mimetype="text/plain")


@bp.get("/reports/status")
@login_required
def report_status() -> Any:
    """Progress of reports the page is waiting for (polled by the progress bar)."""
    admin = current_admin()
    assert admin is not None  # noqa: S101 - login_required guarantees it
    ids = request.args.getlist("id")[:200]
    records = [r for r in pipeline.load(ids) if can_see(admin, r.school_id)]
    return jsonify({"reports": [pipeline.progress(r) for r in records]})


# -- users -----------------------------------------------------------------------------------

USER_SORTS = ("name", "present_days", "rate", "hours")


@bp.get("/schools/<int:school_id>/users")
@login_required
def users(school_id: int) -> Any:
    """The school's users with their attendance over the range: search, sort, pages."""
    school = school_or_403(school_id)
    today, rng, notes = _school_range(school)
    record = pipeline.report_for(school, rng.start, rng.end, rng.granularity, _pinned())
    query = active_users().where(User.school_id == school.id)
    search = request.args.get("q", "").strip()[:100]
    if search:
        query = query.where(func.lower(User.name).contains(search.lower(), autoescape=True))
    people = list(db.session.scalars(query.order_by(User.name, User.id)))
    finished = record.status == pipeline.FINISHED
    rows = [
        {"user": u, "figures": figures.user_figures(record.result, u.id) if finished else None}
        for u in people
    ]
    sort = parse_sort(request.args, USER_SORTS, "name")
    rows = _sorted(rows, sort.key, sort.descending, _user_value)
    page = parse_page(request.args)
    pages = max(1, -(-len(rows) // USERS_PER_PAGE))
    page = min(page, pages)
    return render_template(
        "dashboard/users.html",
        school=school,
        today=today,
        rng=rng,
        notes=notes,
        presets=presets(today, rng.granularity),
        report=record,
        rows=rows[(page - 1) * USERS_PER_PAGE : page * USERS_PER_PAGE],
        total=len(rows),
        page=page,
        pages=pages,
        search=search,
        sort=sort,
        pending=_pending([record]),
        refresh_url=_refresh_url([record]),
    )


def _user_value(row: dict[str, Any], key: str) -> Any:
    if key == "name":
        return row["user"].name.casefold()
    return None if row["figures"] is None else getattr(row["figures"], key)


@bp.get("/schools/<int:school_id>/users/<int:user_id>")
@login_required
def user(school_id: int, user_id: int) -> Any:
    """One user: calendar, time in school per day, sessions and temperatures."""
    school = school_or_403(school_id)
    person = db.session.get(User, user_id)
    if person is None or person.school_id != school.id:
        abort(404)
    today, rng, notes = _school_range(school)
    # The calendar needs every date's school_day: always a day report.
    rng = Range(rng.start, rng.end, "day")
    record = pipeline.report_for(school, rng.start, rng.end, "day", _pinned())
    zone = ZoneInfo(school.timezone)
    first, after = fever_service.local_span(school, rng.start, rng.end)
    readings = list(
        db.session.scalars(
            filtered({"user_id": person.id, "from_": first}).where(Attendance.timestamp < after)
        )
    )
    context: dict[str, Any] = {
        "school": school,
        "person": person,
        "today": today,
        "rng": rng,
        "notes": notes,
        "presets": presets(today, "day"),
        "report": record,
        "readings": readings,
        "zone": zone,
        "pending": _pending([record]),
        "refresh_url": _refresh_url([record]),
    }
    if record.status == pipeline.FINISHED:
        days = figures.user_days(record.result, person.id)
        context.update(
            {
                "figures": figures.user_figures(record.result, person.id),
                "days": days,
                "charts": {
                    "calendar": charts.calendar_heatmap(
                        figures.calendar_statuses(record.result, person.id, today)
                    ),
                    "hours": charts.daily_hours(
                        [(d, float(r["seconds"]) / 3600) for d, r in days.items()],
                        school.min_daily_hours,
                    ),
                    "temperatures": charts.temperature_timeline(
                        [(e.timestamp.astimezone(zone), e.temperature) for e in readings],
                        school.fever_threshold,
                    ),
                },
            }
        )
    return render_template("dashboard/user.html", **context)


# -- photos ----------------------------------------------------------------------------------

PHOTO = re.compile(r"data:(image/(?:png|jpeg|gif|webp));base64,([A-Za-z0-9+/=\s]+)")


@bp.get("/attendances/<int:attendance_id>/photo")
@login_required
def photo(attendance_id: int) -> Any:
    """The photo a device sent with an event, when it sent one inline (a data: URI)."""
    event = db.get_or_404(Attendance, attendance_id)
    school_or_403(event.school_id)
    match = PHOTO.fullmatch(event.image or "")
    if match is None:
        abort(404)
    try:
        data = base64.b64decode(match.group(2), validate=False)
    except (binascii.Error, ValueError):
        abort(404)
    response = Response(data, mimetype=match.group(1))
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Disposition"] = "inline"
    response.cache_control.private = True
    response.cache_control.max_age = 3600
    return response
