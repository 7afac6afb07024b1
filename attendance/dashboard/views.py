"""The overview and the school page: thin routes over the report pipeline."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from flask import abort, jsonify, redirect, render_template, request, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response

from ..extensions import db
from ..models import Attendance, Report, School, User
from ..security.roles import DISTRICT
from ..services import fever as fever_service
from ..services import overview as overview_service
from . import bp, charts, export, figures, life_charts, pipeline
from .auth import can_see, current_admin, login_required, school_or_403
from .common import pinned, progress_context, school_group, school_range, sort_rows
from .params import Range, parse_sort, presets

FEVER_ROWS = 100
OVERVIEW_SORTS = ("name", "enrolled", "in_school", "present", "absent", "rate", "fever_alerts")


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


def _today(school: School, record: Report) -> figures.Today | None:
    """Today's figures from a finished one-day report (None until it finishes)."""
    if record.status != pipeline.FINISHED or record.result is None:
        return None
    alerts = fever_service.fever_count(school, record.start, record.end)
    return figures.today_figures(record.result, alerts)


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
    # Every school's today from one set-based pass (services/overview.py), as of the
    # instant shown: no report per school.
    snapshot = overview_service.current()
    rows = [
        {"school": school, "today": figures.today_of(snapshot.schools[school.id])}
        for school in db.session.scalars(select(School).order_by(School.name, School.id))
        if school.id in snapshot.schools
    ]
    sort = parse_sort(request.args, OVERVIEW_SORTS, "name")
    return render_template(
        "dashboard/overview.html",
        rows=sort_rows(rows, sort.key, sort.descending, _overview_value),
        sort=sort,
        as_of=snapshot.as_of,
    )


def _overview_value(row: dict[str, Any], key: str) -> Any:
    if key == "name":
        return row["school"].name.casefold()
    return None if row["today"] is None else getattr(row["today"], key)


@bp.get("/schools/go")
@login_required
def switch_school() -> Any:
    """The school switcher's target."""
    school_id = request.args.get("school_id", type=int)
    if school_id is None:
        return redirect(url_for("dashboard.overview"))
    return redirect(url_for("dashboard.school", school_id=school_id))


@bp.get("/schools/<int:school_id>")
@login_required
def school(school_id: int) -> Any:
    """A school: today's tiles, the range's charts, fever events and data quality."""
    school = school_or_403(school_id)
    today, rng, notes = school_range(school)
    groups, group = school_group(school)
    pins = pinned()
    records = pipeline.settle(
        [
            pipeline.report_for(school, today, today, "day", pins, group=group),
            pipeline.report_for(
                school, rng.start, rng.end, rng.granularity, pins, users=True, group=group
            ),
        ]
    )
    today_record, record = records
    context: dict[str, Any] = {
        "school": school,
        "today": today,
        "rng": rng,
        "notes": notes,
        "presets": presets(today, rng.granularity),
        "groups": groups,
        "group": group,
        "kpis": _today(school, today_record),
        "report": record,
        "reports": records,
        **progress_context(records),
    }
    if record.status == pipeline.FINISHED and record.result is not None:
        context.update(_range_figures(school, rng, record, record.result))
    return render_template("dashboard/school.html", **context)


def _range_figures(
    school: School, rng: Range, record: Report, result: dict[str, Any]
) -> dict[str, Any]:
    """Charts, tables and panels of a finished range report."""
    buckets = result["buckets"]
    counted = figures.enrolled_ids(result)
    arrivals = figures.arrival_minutes(pipeline.day_results(record), counted, school.timezone)
    facts = pipeline.day_facts(record)
    auto_closed = figures.auto_closed(facts, counted)
    names = _names({u for users in auto_closed.values() for u in users})
    latest = (
        fever_service.fever_events(school, rng.start, rng.end)
        .order_by(None)
        .order_by(Attendance.timestamp.desc(), Attendance.id.desc())
        .limit(FEVER_ROWS)
    )
    temperatures = fever_service.temperature_counts(school, rng.start, rng.end)
    drawn = {
        "presence": charts.presence_bars(buckets, rng.granularity),
        "rate": charts.rate_line(buckets, rng.granularity, school.period_ratio),
        "arrivals": charts.arrival_histogram(arrivals),
        "temperatures": charts.temperature_histogram(temperatures, school.fever_threshold),
    }
    if school.late_after is not None:  # no late arrivals to count without it
        late = figures.late_per_bucket(buckets, facts, counted)
        drawn["late"] = life_charts.late_arrivals(buckets, rng.granularity, late)
    return {
        "result": result,
        "rate": figures.percent(result["presences"], result["enrolled"]),
        "rates": charts.rates(buckets, rng.granularity),
        "labels": [charts.bucket_label(b, rng.granularity) for b in buckets],
        "charts": drawn,
        "fever_events": list(db.session.scalars(latest)),
        "fever_total": fever_service.fever_count(school, rng.start, rng.end),
        "quality": figures.data_quality(result),
        "auto_closed": [
            (day, [(u, names.get(u, "")) for u in users]) for day, users in auto_closed.items()
        ],
        "at_risk": figures.at_risk(result),
        "at_risk_streak": figures.AT_RISK_STREAK,
        "zone": ZoneInfo(school.timezone),
    }


def _names(user_ids: set[int]) -> dict[int, str]:
    """The names of these users, by id."""
    if not user_ids:
        return {}
    rows = db.session.execute(select(User.id, User.name).where(User.id.in_(user_ids)))
    return {user_id: name for user_id, name in rows}


@bp.get("/schools/<int:school_id>/report.csv")
@login_required
def report_csv(school_id: int) -> Any:
    """The report shown on the school page, as CSV."""
    school = school_or_403(school_id)
    _today, rng, _notes = school_range(school)
    _groups, group = school_group(school)
    # The school page's report (users=true: its pupils-at-risk panel), so a pin matches.
    # requested_report, not report_for: with the queue unavailable there is no file to
    # give, so the answer is the 503 with Retry-After of attendance.errors.
    [record] = pipeline.settle(
        [
            pipeline.requested_report(
                school, rng.start, rng.end, rng.granularity, pinned(), users=True, group=group
            )
        ]
    )
    if record.status == pipeline.FAILED:
        return _plain(f"The report failed: {record.error}", 500)
    if record.status != pipeline.FINISHED or record.result is None:
        response = _plain("The report is still being computed; try again in a moment.", 503)
        response.headers["Retry-After"] = "2"
        return response
    return Response(
        export.report_csv(record.result, rng),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{export.filename(school, rng)}"'},
    )


def _plain(text: str, status: int) -> Response:
    return Response(text + "\n", status=status, mimetype="text/plain")


@bp.get("/reports/status")
@login_required
def report_status() -> Any:
    """Progress of reports the page is waiting for (polled by the progress bar)."""
    admin = current_admin()
    assert admin is not None  # noqa: S101 - login_required guarantees it
    records = [
        r for r in pipeline.load(request.args.getlist("id")[:200]) if can_see(admin, r.school_id)
    ]
    return jsonify({"reports": [pipeline.progress(r) for r in records]})
