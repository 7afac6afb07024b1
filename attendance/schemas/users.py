"""What the API, the dashboard and rosters accept for a user: one set of field rules."""

from __future__ import annotations

from marshmallow import validate

from .fields import BodySchema, Day, Name, StrictInteger, id_range, required_name


class UserInSchema(BodySchema):
    envelope = "user"

    name = required_name()
    school_id = StrictInteger(required=True, validate=id_range())
    enrolled_from = Day(allow_none=True)
    enrolled_until = Day(allow_none=True)
    external_id = Name(allow_none=True, validate=validate.Length(min=1, max=64))
    group = Name(allow_none=True, validate=validate.Length(min=1, max=64))
