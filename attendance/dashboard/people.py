"""A school's users: the list with their attendance, and one user's record."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from flask import abort, render_template, request
from sqlalchemy import func

from ..extensions import db
from ..models import User
from ..services import drilldown
from ..services.users import active_users
from . import bp, charts, figures, pipeline
from .auth import login_required, school_or_403
from .common import pinned, progress_context, school_group, school_range, sort_rows
from .params import Range, parse_page, parse_sort, presets

USERS_PER_PAGE = 25
USER_SORTS = ("name", "present_days", "rate", "hours")


@bp.get("/schools/<int:school_id>/users")
@login_required
def users(school_id: int) -> Any:
    """The school's users with their attendance over the range (from one report listing
    each pupil's figures, users=true), of one group if asked: search, sort, pages."""
    school = school_or_403(school_id)
    today, rng, notes = school_range(school)
    groups, group = school_group(school)
    records = pipeline.settle(
        [
            pipeline.report_for(
                school, rng.start, rng.end, rng.granularity, pinned(), users=True, group=group
            )
        ]
    )
    record = records[0]
    query = active_users().where(User.school_id == school.id)
    if group is not None:
        query = query.where(User.group == group)
    search = request.args.get("q", "").strip()[:100]
    if search:
        query = query.where(func.lower(User.name).contains(search.lower(), autoescape=True))
    people = list(db.session.scalars(query.order_by(User.name, User.id)))
    result = record.result if record.status == pipeline.FINISHED else None
    listed = {u["user_id"]: u for u in (result or {}).get("users") or []}
    rows = [
        {
            "user": u,
            "figures": figures.user_figures(result, u.id) if result else None,
            "life": listed.get(u.id),
        }
        for u in people
    ]
    sort = parse_sort(request.args, USER_SORTS, "name")
    rows = sort_rows(rows, sort.key, sort.descending, _user_value)
    pages = max(1, -(-len(rows) // USERS_PER_PAGE))
    page = min(parse_page(request.args), pages)
    return render_template(
        "dashboard/users.html",
        school=school,
        today=today,
        rng=rng,
        notes=notes,
        presets=presets(today, rng.granularity),
        groups=groups,
        group=group,
        report=record,
        reports=records,
        rows=rows[(page - 1) * USERS_PER_PAGE : page * USERS_PER_PAGE],
        total=len(rows),
        page=page,
        pages=pages,
        search=search,
        sort=sort,
        **progress_context(records),
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
    today, rng, notes = school_range(school)
    # The calendar needs every date's school_day: always a day report.
    rng = Range(rng.start, rng.end, "day")
    records = pipeline.settle([pipeline.report_for(school, rng.start, rng.end, "day", pinned())])
    record = records[0]
    zone = ZoneInfo(school.timezone)
    readings = drilldown.readings(school, person.id, rng.start, rng.end)
    context: dict[str, Any] = {
        "school": school,
        "person": person,
        "today": today,
        "rng": rng,
        "notes": notes,
        "presets": presets(today, "day"),
        "report": record,
        "reports": records,
        "readings": readings,
        "zone": zone,
        **progress_context(records),
    }
    if record.status == pipeline.FINISHED and record.result is not None:
        # The day detail by the same rules and the same `now` as the report's figures.
        days = drilldown.user_days(school, readings, rng.start, rng.end, record.now)
        school_days = {
            dt.date.fromisoformat(b["date"]): bool(b["school_day"])
            for b in record.result["buckets"]
        }
        hours = [(d, r.total.total_seconds() / 3600) for d, r in sorted(days.items())]
        temperatures = [(e.timestamp.astimezone(zone), e.temperature) for e in readings]
        context.update(
            {
                "figures": figures.user_figures(record.result, person.id),
                "days": days,
                "charts": {
                    "calendar": charts.calendar_heatmap(
                        figures.calendar_statuses(days, school_days, today)
                    ),
                    "hours": charts.daily_hours(hours, school.min_daily_hours),
                    "temperatures": charts.temperature_timeline(
                        temperatures, school.fever_threshold
                    ),
                },
            }
        )
    return render_template("dashboard/user.html", **context)
