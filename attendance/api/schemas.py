"""marshmallow schemas: what the API accepts and what it answers."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from ..presence import CHECKIN, CHECKOUT, EVENT_TYPES
from ..schemas.fields import (
    BodySchema,
    Instant,
    StrictDecimal,
    StrictInteger,
    id_range,
    places,
    required_name,
)
from ..security.images import ImageInput, ImageOutput

EVENT_TYPE_ERROR = f"must be {CHECKIN} or {CHECKOUT}"


# -- users -------------------------------------------------------------------------------


class UserSchema(ma.Schema):
    id = fields.Integer()
    name = fields.String()
    school_id = fields.Integer()
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()


class UserInSchema(BodySchema):
    envelope = "user"

    name = required_name()
    school_id = StrictInteger(required=True, validate=id_range())


class UserFilterSchema(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    school_id = fields.Integer(validate=id_range())


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
