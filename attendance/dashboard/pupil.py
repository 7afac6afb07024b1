"""One pupil's page: calendar (marks, late days, forgotten check-outs), time in school,
sessions, temperatures, marks and their history, enrolments. The forms that change them
post to `pupil_forms`, which shows this page again with their errors."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any
from zoneinfo import ZoneInfo

from flask import abort, render_template
from sqlalchemy import select

from ..extensions import db
from ..models import Mark, School, User
from ..security.models import Admin, ApiToken
from ..security.roles import DISTRICT
from ..services import drilldown
from ..services import enrolments as spans
from ..services import marks as mark_service
from . import bp, charts, figures, life_charts, pipeline
from .auth import current_admin, login_required, school_or_403
from .common import pinned, progress_context, school_range
from .params import Range, presets

HISTORY_ROWS = 100  # the latest entries of the mark history; the API pages through all


def pupil_of(school_id: int, user_id: int) -> tuple[School, User]:
    """The school (403 unless the admin may see it) and its pupil (404 if not its pupil)."""
    school = school_or_403(school_id)
    person = db.session.get(User, user_id)
    if person is None or person.school_id != school.id:
        abort(404)
    return school, person


def creators(entries: Iterable[Mark]) -> dict[str, str]:
    """Who recorded each entry, in words: an admin's email, or an API token's name."""
    ids: dict[str, set[int]] = {"admin": set(), "token": set()}
    for entry in entries:
        kind, _, number = entry.created_by.partition(":")
        if kind in ids and number.isdigit():
            ids[kind].add(int(number))
    names = {f"admin:{a.id}": a.email for a in _rows(Admin, ids["admin"])}
    names |= {f"token:{t.id}": f"API token “{t.name}”" for t in _rows(ApiToken, ids["token"])}
    return names


def _rows(model: Any, ids: set[int]) -> list[Any]:
    return list(db.session.scalars(select(model).where(model.id.in_(ids)))) if ids else []


@bp.get("/schools/<int:school_id>/users/<int:user_id>")
@login_required
def user(school_id: int, user_id: int) -> Any:
    """One user: calendar, time in school per day, sessions, marks and enrolments."""
    school, person = pupil_of(school_id, user_id)
    return render_user(school, person)


def render_user(
    school: School, person: User, forms: dict[str, Any] | None = None, status: int = 200
) -> Any:
    """The user page; `forms` holds a posted form's values and errors (a 422 shows them)."""
    today, rng, notes = school_range(school)
    # The calendar needs every date's school_day: always a day report; it lists its users
    # (users=true) for the pupil's excused and late days.
    rng = Range(rng.start, rng.end, "day")
    records = pipeline.settle(
        [pipeline.report_for(school, rng.start, rng.end, "day", pinned(), users=True)]
    )
    record = records[0]
    zone = ZoneInfo(school.timezone)
    readings = drilldown.readings(school, person.id, rng.start, rng.end)
    admin = current_admin()
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
        "forms": forms or {},
        "calendar_key": life_charts.CALENDAR_KEY,
        **_marks_and_enrolments(school, person, admin is not None and admin.role == DISTRICT),
        **progress_context(records),
    }
    if record.status == pipeline.FINISHED and record.result is not None:
        context.update(_figures(school, person, rng, today, record, readings, context))
    return render_template("dashboard/user.html", **context), status


def _marks_and_enrolments(school: School, person: User, district: bool) -> dict[str, Any]:
    """The pupil's effective marks, the latest history entries, enrolments and move targets."""
    effective = list(db.session.scalars(mark_service.listed(school.id, {"user_id": person.id})))
    history = list(
        db.session.scalars(
            mark_service.listed(school.id, {"user_id": person.id, "history": True})
            .order_by(None)
            .order_by(Mark.id.desc())
            .limit(HISTORY_ROWS)
        )
    )
    enrolments = spans.of_user(person.id, school.id)
    latest = spans.of_user(person.id)[-1:]
    others: list[School] = []
    if district:
        others = list(
            db.session.scalars(
                select(School).where(School.id != school.id).order_by(School.name, School.id)
            )
        )
    return {
        "marks": sorted(effective, key=lambda m: m.date, reverse=True),
        "history": history,
        "who": creators([*effective, *history]),
        "enrolments": enrolments,
        "latest_enrolment": latest[0] if latest else None,
        "move_targets": others,
        "can_move": district,
    }


def _figures(
    school: School,
    person: User,
    rng: Range,
    today: dt.date,
    record: Any,
    readings: list[Any],
    context: dict[str, Any],
) -> dict[str, Any]:
    """Tiles and charts of a finished report."""
    result = record.result
    zone = context["zone"]
    # The day detail by the same rules and the same `now` as the report's figures.
    days = drilldown.user_days(school, readings, rng.start, rng.end, record.now)
    school_days = {
        dt.date.fromisoformat(b["date"]): bool(b["school_day"]) for b in result["buckets"]
    }
    notes = {
        m.date: figures.MarkNote(
            m.status, m.excused, m.reason or "", context["who"].get(m.created_by, m.created_by)
        )
        for m in context["marks"]
        if rng.start <= m.date <= rng.end
    }
    calendar = figures.calendar_days(
        pipeline.day_facts(record), person.id, school_days, today, notes
    )
    hours = [(d, r.total.total_seconds() / 3600) for d, r in sorted(days.items())]
    temperatures = [(e.timestamp.astimezone(zone), e.temperature) for e in readings]
    life = {u["user_id"]: u for u in result.get("users") or []}.get(person.id)
    return {
        "figures": figures.user_figures(result, person.id),
        "life": life,
        "days": days,
        "calendar": calendar,
        "charts": {
            "calendar": life_charts.calendar_heatmap(calendar),
            "hours": charts.daily_hours(hours, school.min_daily_hours),
            "temperatures": charts.temperature_timeline(temperatures, school.fever_threshold),
        },
    }
