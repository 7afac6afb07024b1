"""/api/schools/:id/fever-events: attendances at or above the school's fever threshold."""

from __future__ import annotations

import datetime as dt
from typing import Any

import marshmallow as ma

from .. import clock
from ..inputs import MAX_RANGE_DAYS
from ..models import School
from ..presence import local_today
from ..schemas.fields import Day
from ..security.principals import allow, check_school
from ..services.fever import fever_events
from .common import Blueprint, PageArgs, envelope, get_or_404, paginate, unprocessable
from .schemas import AttendanceSchema

blp = Blueprint("fever", __name__, url_prefix="/api/schools", description="Fever events")


class LocalDateRangeArgs(ma.Schema):
    """`from` and `to`: school-local dates, inclusive; each defaults to today."""

    class Meta:
        unknown = ma.EXCLUDE

    from_ = Day(data_key="from")
    to = Day()

    @ma.validates_schema
    def _ordered(self, data: dict[str, Any], **kwargs: Any) -> None:
        start, end = data.get("from_"), data.get("to")
        if start and end and start > end:
            raise ma.ValidationError("must not be after `to`", "from")
        if start and end and (end - start).days + 1 > MAX_RANGE_DAYS:
            raise ma.ValidationError(f"the range must be at most {MAX_RANGE_DAYS} days", "to")


class FeverEventSchema(AttendanceSchema):
    user_name = ma.fields.String(attribute="user.name")


def local_range(school: School, args: dict[str, Any]) -> tuple[dt.date, dt.date]:
    """The requested range, each bound defaulting to the school's today."""
    today = local_today(clock.now(), school.timezone)
    start, end = args.get("from_", today), args.get("to", today)
    if start > end:
        # Only one bound was given and it falls on the wrong side of today.
        unprocessable("from", "must not be after `to` (which defaults to today)")
    return start, end


@blp.route("/<int:school_id>/fever-events")
@allow("school")
@blp.arguments(LocalDateRangeArgs, location="query")
@blp.arguments(PageArgs, location="query")
@blp.response(200, envelope(FeverEventSchema, many=True))
def list_fever_events(dates: dict[str, Any], page: dict[str, Any], school_id: int) -> Any:
    """List a school's fever events on local dates `from`..`to` (default today), oldest first."""
    check_school(school_id)  # another school's events: 404, as if it did not exist
    school: School = get_or_404(School, school_id)
    start, end = local_range(school, dates)
    return paginate(fever_events(school, start, end), page)
