"""The aggregate endpoint and the report resource it points at."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import current_app, jsonify, url_for
from flask.views import MethodView
from marshmallow import fields, validate

from .. import presence
from ..extensions import db
from ..jobs.queue import QueueUnavailable
from ..models import REPORT_FAILED, REPORT_FINISHED, Report, School
from ..security.principals import allow
from ..security.roles import SCHOOL
from ..services import district as district_service
from ..services.reports import district, district_doc, reading, requesting, settings_from
from ..services.reports.district_doc import DistrictReportSchema
from ..services.reports.reading import ReportSchema
from .common import Blueprint, envelope, get_or_404

blp = Blueprint("reports", __name__, url_prefix="/api", description="Presence reports")


class AggregateArgs(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    from_ = fields.Date(data_key="from", metadata={"description": "School-local date (today)"})
    to = fields.Date(metadata={"description": "School-local date, inclusive (today)"})
    granularity = fields.String(
        load_default=presence.DAY,
        validate=validate.OneOf(presence.GRANULARITIES, error="must be one of day, week, month"),
    )
    group = fields.String(
        validate=validate.Length(min=1, max=64, error="must be 1 to 64 characters"),
        metadata={
            "description": "Narrow every figure to the users whose group this is now "
            "(a regrouped pupil's past counts under their current group)"
        },
    )
    users = fields.Boolean(
        load_default=False,
        metadata={"description": "List each user counted over the range (`users`)"},
    )
    wait = fields.Float(
        validate=validate.Range(min=0, max=60, error="must be between 0 and 60 seconds"),
        metadata={
            "description": "Seconds to wait for the figures before answering 202 (default "
            "REPORT_WAIT_DEFAULT, 5; at most REPORT_WAIT_MAX, 30: a longer wait is cut to it)"
        },
    )


class ReportArgs(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    wait = fields.Float(
        load_default=0.0,
        validate=validate.Range(min=0, max=60, error="must be between 0 and 60 seconds"),
        metadata={
            "description": "Seconds to wait for the report to end before answering with its "
            "status (default 0; at most REPORT_WAIT_MAX, 30)"
        },
    )


def _answer(report: Report, wait: float) -> Any:
    """200 with the figures when ready within `wait` seconds, else 202 with progress (the
    route's response schema dumps the answer: a school's, or a district report's)."""
    [report] = requesting.wait_for([report], wait)
    answer = district_doc.district_answer if report.school_id is None else reading.report_answer
    if report.status in (REPORT_FINISHED, REPORT_FAILED):
        return {"data": answer(report)}, 200
    location = url_for("reports.ReportItem", report_id=report.id)
    return {"data": answer(report)}, 202, {"Location": location}


_DISTRICT = DistrictReportSchema()


@blp.route("/attendances/aggregate/school/<int:school_id>")
class Aggregate(MethodView):
    @allow(SCHOOL)
    @blp.arguments(AggregateArgs, location="query")
    @blp.response(200, envelope(ReportSchema))
    @blp.alt_response(202, schema=envelope(ReportSchema), description="Still computing")
    def get(self, args: dict[str, Any], school_id: int) -> Any:
        """Present / absent figures for one school by day, week or month (docs/presence.md)."""
        school: School = get_or_404(School, school_id)
        now = requesting.now_for_report()
        today = presence.local_today(now, school.timezone)
        start, end = args.get("from_", today), args.get("to", today)
        settings = settings_from(current_app.config)
        requested = requesting.request_report(
            school, start, end, args["granularity"], now, settings, args.get("group"), args["users"]
        )
        db.session.commit()  # before the plan is queued: its worker must find the row
        try:
            requested.after_commit()
        except QueueUnavailable:
            db.session.commit()  # the report, failed by after_commit: never left queued
            raise  # 503 with Retry-After (attendance.errors)
        wait = args.get("wait", current_app.config["REPORT_WAIT_DEFAULT"])
        return _answer(requested.report, wait)


class DistrictArgs(AggregateArgs):
    class Meta:
        unknown = ma.EXCLUDE
        exclude = ("group", "users")


@blp.route("/attendances/aggregate/district")
class DistrictAggregate(MethodView):
    @blp.arguments(DistrictArgs, location="query")
    @blp.response(200, envelope(DistrictReportSchema))
    @blp.alt_response(202, schema=envelope(DistrictReportSchema), description="Still computing")
    def get(self, args: dict[str, Any]) -> Any:
        """Every school's figures and the district's totals by day, week or month (district
        tokens): each date is each school's own local date."""
        now = requesting.now_for_report()
        today = district.district_today(now, district_service.all_schools())
        start, end = args.get("from_", today), args.get("to", today)
        settings = settings_from(current_app.config)
        requested = district.request_district_report(start, end, args["granularity"], now, settings)
        db.session.commit()  # before the plan is queued: its worker must find the row
        try:
            requested.after_commit()
        except QueueUnavailable:
            db.session.commit()  # the report, failed by after_commit: never left queued
            raise  # 503 with Retry-After (attendance.errors)
        wait = args.get("wait", current_app.config["REPORT_WAIT_DEFAULT"])
        return _answer(requested.report, wait)


@blp.route("/reports/<string:report_id>")
class ReportItem(MethodView):
    @allow(SCHOOL)
    @blp.arguments(ReportArgs, location="query")
    @blp.response(200, envelope(ReportSchema))
    def get(self, args: dict[str, Any], report_id: str) -> Any:
        """A report: its figures once finished, else its status and progress."""
        [report] = requesting.wait_for([get_or_404(Report, report_id)], args["wait"])
        if report.school_id is None:  # a district report: its own document (docs/api.md)
            return jsonify({"data": _DISTRICT.dump(district_doc.district_answer(report))})
        return {"data": reading.report_answer(report)}
