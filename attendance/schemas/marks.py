"""What the API and the dashboard accept for an admin's mark: one set of field rules."""

from __future__ import annotations

from marshmallow import fields, validate

from ..presence import ABSENT, PRESENT
from .fields import BodySchema, Day, Name, StrictBoolean, StrictInteger, id_range


class MarkInSchema(BodySchema):
    """One date (`date`), or each school day of `from`..`to` the user is enrolled on."""

    envelope = "mark"

    user_id = StrictInteger(required=True, validate=id_range())
    date = Day()
    from_ = Day(data_key="from")
    to = Day()
    status = fields.String(
        required=True,
        validate=validate.OneOf((PRESENT, ABSENT), error="must be present or absent"),
    )
    reason = Name(required=True, validate=validate.Length(min=1, max=200))
    excused = StrictBoolean(load_default=False)
