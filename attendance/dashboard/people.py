"""A school's users: the list with their attendance (one user's page is `pupil`)."""

from __future__ import annotations

from typing import Any

from flask import render_template, request
from sqlalchemy import func

from ..extensions import db
from ..models import User
from ..services.users import active_users
from . import bp, figures, pipeline
from .auth import login_required, school_or_403
from .common import pinned, progress_context, school_group, school_range, sort_rows
from .params import parse_page, parse_sort, presets

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
