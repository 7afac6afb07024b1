"""/api/attendances: devices and apps record check-ins and check-outs."""

from __future__ import annotations

import re
from typing import Any

from flask import jsonify, request, url_for
from flask.views import MethodView

from ..extensions import db, in_transaction
from ..jobs.webhooks import fevers_recorded
from ..models import Attendance
from ..schemas.loader import loaded_quickly
from ..security import images
from ..security.principals import allow, claim_school, scope_query
from ..security.roles import DEVICE, SCHOOL
from ..services import attendances as service
from .common import Blueprint, PageArgs, envelope, get_or_404, paginate, unprocessable
from .schemas import AttendanceFilterSchema, AttendanceInSchema, AttendanceSchema

blp = Blueprint(
    "attendances", __name__, url_prefix="/api/attendances", description="Attendance events"
)

IDEMPOTENCY_HEADER = "Idempotency-Key"
PRINTABLE_ASCII = re.compile("[ -~]*")
_attendance_schema = AttendanceSchema()


@blp.route("")
class Attendances(MethodView):
    @allow(SCHOOL)
    @blp.arguments(AttendanceFilterSchema, location="query")
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, envelope(AttendanceSchema, many=True))
    def get(self, filters: dict[str, Any], page: dict[str, Any]) -> Any:
        """List events, filtered by school_id, user_id, type and a from/to time range."""
        if "school_id" in filters:
            claim_school(filters["school_id"])
        return paginate(scope_query(service.filtered(filters), Attendance.school_id), page)

    @allow(SCHOOL, DEVICE)
    # An instance, not the class: webargs would build a schema for every request.
    @blp.arguments(loaded_quickly(AttendanceInSchema()))
    @blp.response(201, envelope(AttendanceSchema))
    @blp.alt_response(200, schema=envelope(AttendanceSchema), description="A retried key")
    @blp.doc(
        parameters=[
            {
                "in": "header",
                "name": IDEMPOTENCY_HEADER,
                "schema": {"type": "string", "maxLength": 200, "pattern": "^[ -~]*$"},
                "description": "Retries with the same key for the same school return the "
                "first result instead of recording twice. Printable ASCII, at most 200 "
                "characters.",
            }
        ]
    )
    def post(self, data: dict[str, Any]) -> Any:
        """Record a check-in or check-out (201; a retried idempotency key answers 200)."""
        claim_school(data["school_id"])
        key = _idempotency_key()
        event, created = service.record_attendance(data, key)
        if in_transaction():  # a check-in as it happens has committed already
            db.session.commit()
        # The event is stored for good from here on: work that must follow only a stored
        # event goes here, after the commit. Webhooks: decided for fevers only.
        if created and event.fever:
            fevers_recorded([(event.id, event.timestamp)], [event.school_id])
        response = jsonify({"data": _attendance_schema.dump(event)})
        response.status_code = 201 if created else 200
        response.headers["Location"] = url_for(".AttendanceItem", attendance_id=event.id)
        return response


def _idempotency_key() -> str | None:
    """The request's Idempotency-Key: printable ASCII, at most 200 characters.

    HTTP headers are bytes that WSGI hands over as Latin-1: any other byte would be stored
    as some other text than the device meant (UTF-8 'é' became 'Ã©').
    """
    key = request.headers.get(IDEMPOTENCY_HEADER) or None
    if key is not None and len(key) > 200:
        unprocessable(IDEMPOTENCY_HEADER, "must be at most 200 characters")
    if key is not None and not PRINTABLE_ASCII.fullmatch(key):
        unprocessable(IDEMPOTENCY_HEADER, "must be printable ASCII (space to ~)")
    return key


@blp.route("/<bigid:attendance_id>")
class AttendanceItem(MethodView):
    @allow(SCHOOL)
    @blp.response(200, envelope(AttendanceSchema))
    def get(self, attendance_id: int) -> Any:
        """Show an event."""
        return {"data": get_or_404(Attendance, attendance_id)}

    @allow(SCHOOL)
    @blp.response(204)
    def delete(self, attendance_id: int) -> None:
        """Delete an event (a correction); the figures of its day are recomputed."""
        service.delete_attendance(get_or_404(Attendance, attendance_id))
        db.session.commit()


@blp.route("/<bigid:attendance_id>/image")
class AttendanceImage(MethodView):
    @allow(SCHOOL)
    @blp.doc(
        responses={
            "200": {
                "description": "The photo",
                "content": {
                    mimetype: {"schema": {"type": "string", "format": "binary"}}
                    for mimetype in ("image/jpeg", "image/png")
                },
            }
        }
    )
    def get(self, attendance_id: int) -> Any:
        """The stored photo of an event, for admins of its school."""
        return images.send(get_or_404(Attendance, attendance_id).image)
