"""/api/schools/:id/roster: import a school's pupil list as CSV, and export it (docs/rosters.md)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Any

import marshmallow as ma
from flask import Response, current_app, request, stream_with_context
from flask.views import MethodView
from flask_smorest import abort
from marshmallow import fields, validate
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..models import School
from ..security.principals import allow, current
from ..security.roles import SCHOOL
from ..services import roster
from ..services.roster import report as outcomes
from .common import Blueprint, envelope, get_or_404

blp = Blueprint("roster", __name__, url_prefix="/api/schools", description="Rosters")

CSV_TYPES = ("text/csv",)
MULTIPART = "multipart/form-data"
REQUEST_BODY = {
    "required": True,
    "description": "The roster as CSV (docs/rosters.md): a text/csv body, or the `file` "
    "field of a multipart upload.",
    "content": {
        "text/csv": {"schema": {"type": "string"}},
        MULTIPART: {
            "schema": {
                "type": "object",
                "properties": {"file": {"type": "string", "format": "binary"}},
                "required": ["file"],
            }
        },
    },
}


class RosterArgs(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    dry_run = fields.Boolean(
        load_default=False, metadata={"description": "true: answer the plan, write nothing"}
    )
    archive_missing = fields.Boolean(
        load_default=False,
        metadata={"description": "true: archive the school's pupils the file leaves out"},
    )
    all_or_nothing = fields.Boolean(
        load_default=False,
        metadata={"description": "true: import nothing (422) when a row is invalid"},
    )


class RosterRowSchema(ma.Schema):
    line = fields.Integer(
        allow_none=True, metadata={"description": "Where the row starts (header: 1)."}
    )
    external_id = fields.String(allow_none=True)
    status = fields.String(validate=validate.OneOf(outcomes.STATUSES))
    changes = fields.Dict(
        keys=fields.String(),
        values=fields.List(fields.Raw(allow_none=True)),
        metadata={"description": "Each changed field's [old, new]."},
    )
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))


class RosterResultSchema(ma.Schema):
    dry_run = fields.Boolean()
    created = fields.Integer()
    updated = fields.Integer()
    unchanged = fields.Integer()
    archived = fields.Integer()
    invalid = fields.Integer()
    rows = fields.List(fields.Nested(RosterRowSchema))


@blp.before_request
def _allow_roster_bodies() -> None:
    """A roster may be larger than the app-wide body limit (for these routes only)."""
    request.max_content_length = current_app.config["ROSTER_MAX_CONTENT_LENGTH"]


def _upload() -> IO[bytes]:
    """The roster's bytes as a stream: the body, or the multipart upload's `file` field."""
    if request.mimetype == MULTIPART:
        upload = request.files.get("file")
        if upload is None:
            abort(422, errors={"file": ["is required: the upload's field must be named file"]})
            raise AssertionError  # abort raises; this line tells type checkers
        return upload.stream
    if request.mimetype not in CSV_TYPES:
        abort(415, errors={"detail": "send the roster as text/csv or as a multipart upload"})
    return request.stream


@blp.route("/<int:school_id>/roster")
class Roster(MethodView):
    @allow(SCHOOL)
    @blp.arguments(RosterArgs, location="query")
    @blp.response(200, envelope(RosterResultSchema))
    @blp.alt_response(415, response="UNSUPPORTED_MEDIA_TYPE")
    @blp.doc(requestBody=REQUEST_BODY)
    def post(self, args: dict[str, Any], school_id: int) -> Any:
        """Import a roster: each row created, updated, unchanged or invalid (`dry_run`: a preview).

        Pupils are matched by `external_id` within the school; a `school` column moves
        pupils to the school it names. Invalid rows do not stop valid ones, unless
        `all_or_nothing`.
        """
        school = get_or_404(School, school_id)
        options = roster.Options(dry_run=args["dry_run"], archive_missing=args["archive_missing"])
        try:
            report = roster.run(_upload(), school, options, may_act_for=current().sees)
        except roster.RosterFileError as error:
            db.session.rollback()
            abort(422, errors={"file": [str(error)]})
            raise AssertionError from None
        except IntegrityError:
            db.session.rollback()
            abort(409, errors={"detail": "the pupils changed during the import: send it again"})
            raise AssertionError from None
        try:
            invalid = report.counts[outcomes.INVALID]
            if args["all_or_nothing"] and invalid:
                db.session.rollback()
                detail = f"{invalid} invalid row(s): nothing was imported"
                return _streamed(
                    report, report.document("errors", {"detail": detail}, outcomes.INVALID), 422
                )
            if options.dry_run:
                db.session.rollback()
            else:
                db.session.commit()
            # Built by hand, and streamed: the rows are read back from the report's file
            # as they are written out (50,000 rows through marshmallow cost more than the
            # import, and held in memory, more than the rest of it). The schema documents
            # the shape.
            return _streamed(report, report.answer(), 200)
        except BaseException:  # a failed commit: no answer will close the report
            report.close()
            raise


def _streamed(report: roster.Report, pieces: Iterator[bytes], status: int) -> Response:
    """A JSON answer written piece by piece; the report is closed once it is sent."""

    def body() -> Iterator[bytes]:
        with report:
            yield from pieces

    response = current_app.response_class(body(), status=status, mimetype="application/json")
    response.call_on_close(report.close)  # also when the client leaves before the end
    return response


@blp.route("/<int:school_id>/roster.csv")
class RosterExport(MethodView):
    @allow(SCHOOL)
    @blp.response(200, content_type="text/csv", description="The roster, UTF-8 CSV.")
    @blp.doc(responses={"200": {"content": {"text/csv": {"schema": {"type": "string"}}}}})
    def get(self, school_id: int) -> Any:
        """Export the school's pupils enrolled today or later, in the columns an import reads."""
        school = get_or_404(School, school_id)
        return csv_response(school)


def csv_response(school: School) -> Response:
    """The school's roster as a streamed CSV download."""
    rows = roster.csv_lines(roster.export_rows(school))
    response = Response(stream_with_context(rows), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{roster.filename(school)}"'
    return response
