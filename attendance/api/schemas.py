"""marshmallow schemas: what the API accepts and what it answers."""

from __future__ import annotations

import datetime as dt

import marshmallow as ma
from marshmallow import fields, validate

from ..models import User
from ..presence import CHECKIN, CHECKOUT, EVENT_TYPES, MARK_STATUSES
from ..schemas.fields import (
    BodySchema,
    Day,
    Instant,
    StrictDecimal,
    StrictInteger,
    id_range,
    places,
)
from ..schemas.marks import MarkInSchema  # noqa: F401 - the API's name for it
from ..schemas.users import UserInSchema  # noqa: F401 - the API's name for it
from ..security.images import ImageInput, ImageOutput
from ..services import enrolments as spans

EVENT_TYPE_ERROR = f"must be {CHECKIN} or {CHECKOUT}"


# -- users -------------------------------------------------------------------------------


def _current_span(user: User) -> spans.Span:
    today = spans.school_today(user.school)
    enrolment = spans.current(user.enrolments, user.school_id, today)
    return (None, None) if enrolment is None else (enrolment.from_, enrolment.until)


def _day_or_none(day: dt.date | None) -> str | None:
    return None if day is None else day.isoformat()


class EnrolmentSchema(ma.Schema):
    school_id = fields.Integer()
    from_ = fields.Date(data_key="from", allow_none=True)
    until = fields.Date(allow_none=True)


class UserSchema(ma.Schema):
    id = fields.Integer()
    name = fields.String()
    school_id = fields.Integer(metadata={"description": "The school of the latest enrolment"})
    enrolled_from = fields.Function(
        lambda user: _day_or_none(_current_span(user)[0]),
        metadata={"type": "string", "format": "date", "nullable": True},
    )
    enrolled_until = fields.Function(
        lambda user: _day_or_none(_current_span(user)[1]),
        metadata={"type": "string", "format": "date", "nullable": True},
    )
    external_id = fields.String(allow_none=True)
    group = fields.String(allow_none=True)
    archived_at = fields.AwareDateTime(attribute="deleted_at", allow_none=True)
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()


class UserDetailSchema(UserSchema):
    """One user, with every enrolment, oldest first."""

    enrolments = fields.List(fields.Nested(EnrolmentSchema))


class UserFilterSchema(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    school_id = fields.Integer(validate=id_range())
    group = fields.String(validate=validate.Length(min=1, max=64))
    archived = fields.Boolean(
        load_default=False,
        metadata={"description": "true: list every user, not only those enrolled today or later"},
    )


# -- marks -------------------------------------------------------------------------------


class MarkSchema(ma.Schema):
    id = fields.Integer()
    user_id = fields.Integer()
    school_id = fields.Integer()
    date = fields.Date()
    status = fields.String(metadata={"enum": list(MARK_STATUSES)})
    reason = fields.String(allow_none=True)
    excused = fields.Boolean()
    created_by = fields.String(metadata={"description": "token:<id> or admin:<id>"})
    created_at = fields.AwareDateTime()


class MarkFilterSchema(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    user_id = fields.Integer(validate=id_range())
    from_ = Day(data_key="from")
    to = Day()
    history = fields.Boolean(
        load_default=False,
        metadata={"description": "true: every entry, clearings included, oldest first"},
    )


# -- attendances -------------------------------------------------------------------------


class AttendanceSchema(ma.Schema):
    id = fields.Integer()
    timestamp = fields.AwareDateTime()
    user_id = fields.Integer()
    school_id = fields.Integer()
    temperature = fields.Float()
    image = ImageOutput("attendances.AttendanceImage")
    type = fields.String()
    fever = fields.Boolean()
    received_at = fields.AwareDateTime()
    client_event_id = fields.String(attribute="idempotency_key", allow_none=True)


class AttendanceInSchema(BodySchema):
    envelope = "attendance"

    user_id = StrictInteger(required=True, validate=id_range())
    school_id = StrictInteger(required=True, validate=id_range())
    type = fields.String(
        required=True, validate=validate.OneOf(EVENT_TYPES, error=EVENT_TYPE_ERROR)
    )
    temperature = StrictDecimal(
        required=True,
        validate=[validate.Range(min=28, max=43, error="must be between 28 and 43"), places(2)],
    )
    timestamp = Instant()
    image = ImageInput(allow_none=True)
    client_event_id = fields.String(validate=validate.Length(min=1, max=200))


class AttendanceFilterSchema(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    school_id = fields.Integer(validate=id_range())
    user_id = fields.Integer(validate=id_range())
    type = fields.String(validate=validate.OneOf(EVENT_TYPES, error=EVENT_TYPE_ERROR))
    from_ = Instant(data_key="from")
    to = Instant()
