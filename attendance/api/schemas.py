"""marshmallow schemas: what the API accepts and what it answers."""

from __future__ import annotations

import zoneinfo
from decimal import Decimal
from functools import cache
from typing import Any

import marshmallow as ma
from marshmallow import fields, validate

from .. import inputs
from ..models import EVENT_TYPES
from ..security.images import ImageInput, ImageOutput
from .common import MAX_ID, BodySchema


@cache
def _timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _valid_timezone(name: str) -> None:
    if name not in _timezones():
        raise ma.ValidationError("must be an IANA timezone name, e.g. Europe/Paris")


def _unique(values: list[Any]) -> None:
    if len(set(values)) != len(values):
        raise ma.ValidationError("must not repeat a value")


def _places(limit: int) -> Any:
    def check(value: Decimal) -> None:
        exponent = value.as_tuple().exponent
        if isinstance(exponent, int) and exponent < -limit:
            raise ma.ValidationError(f"must have at most {limit} decimal places")

    return check


class StrictInteger(fields.Integer):
    """An integer, strictly: JSON `true` is not 1, and 1.5 or "1" are not ids (1.5 was
    truncated to 1)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("strict", True)
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, bool):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class StrictDecimal(fields.Decimal):
    """A decimal that refuses booleans."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, bool):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


def _checked(value: Any, check: Any) -> Any:
    try:
        return check(value)
    except inputs.InputError as error:
        raise ma.ValidationError(str(error)) from None


class Name(fields.String):
    """A name: surrounding whitespace stripped, no control characters (`inputs.clean_name`)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        return _checked(super()._deserialize(value, attr, data, **kwargs), inputs.clean_name)


AWARE_ERROR = "must be an ISO 8601 date-time with a UTC offset or Z"


class Instant(fields.AwareDateTime):
    """An ISO 8601 date-time with an offset, within `inputs`' bounds; loaded as UTC."""

    default_error_messages = {"invalid": AWARE_ERROR, "invalid_awareness": AWARE_ERROR}

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("metadata", {"description": f"UTC offset required; {inputs.BOUNDS}"})
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        return _checked(super()._deserialize(value, attr, data, **kwargs), inputs.check_instant)


class Day(fields.Date):
    """An ISO 8601 date within `inputs`' bounds."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("metadata", {"description": inputs.BOUNDS.capitalize()})
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        return _checked(super()._deserialize(value, attr, data, **kwargs), inputs.check_day)


def _id_range() -> validate.Range:
    return validate.Range(min=0, max=MAX_ID, error=f"must be an id from 0 to {MAX_ID}")


def _name() -> Name:
    return Name(required=True, validate=validate.Length(min=1, max=200))


# -- schools -----------------------------------------------------------------------------


class SchoolSchema(ma.Schema):
    id = fields.Integer()
    name = fields.String()
    timezone = fields.String()
    school_days = fields.List(fields.Integer())
    min_daily_hours = fields.Float()
    period_ratio = fields.Float()
    fever_threshold = fields.Float()
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()


class SchoolInSchema(BodySchema):
    envelope = "school"

    name = _name()
    timezone = fields.String(validate=_valid_timezone)
    school_days = fields.List(
        StrictInteger(validate=validate.Range(min=1, max=7, error="must be ISO weekdays 1 to 7")),
        validate=[validate.Length(min=1, error="must name at least one day"), _unique],
    )
    min_daily_hours = StrictDecimal(
        validate=[
            validate.Range(
                min=0, max=24, min_inclusive=False, error="must be over 0 and at most 24"
            ),
            _places(2),
        ]
    )
    period_ratio = StrictDecimal(
        validate=[
            validate.Range(min=0, max=1, max_inclusive=False, error="must be from 0 to under 1"),
            _places(3),
        ]
    )
    fever_threshold = StrictDecimal(
        validate=[validate.Range(min=28, max=43, error="must be between 28 and 43"), _places(1)]
    )


class ClosureSchema(ma.Schema):
    id = fields.Integer()
    school_id = fields.Integer()
    date = fields.Date()
    name = fields.String(allow_none=True)


class ClosureInSchema(BodySchema):
    envelope = "closure"

    date = Day(required=True)
    name = Name(allow_none=True, validate=validate.Length(max=200))


# -- users -------------------------------------------------------------------------------


class UserSchema(ma.Schema):
    id = fields.Integer()
    name = fields.String()
    school_id = fields.Integer()
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()


class UserInSchema(BodySchema):
    envelope = "user"

    name = _name()
    school_id = StrictInteger(required=True, validate=_id_range())


class UserFilterSchema(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    school_id = fields.Integer(validate=_id_range())


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

    user_id = StrictInteger(required=True, validate=_id_range())
    school_id = StrictInteger(required=True, validate=_id_range())
    type = fields.String(
        required=True, validate=validate.OneOf(EVENT_TYPES, error="must be checkin or checkout")
    )
    temperature = StrictDecimal(
        required=True,
        validate=[validate.Range(min=28, max=43, error="must be between 28 and 43"), _places(2)],
    )
    timestamp = Instant()
    image = ImageInput(allow_none=True)
    client_event_id = fields.String(validate=validate.Length(min=1, max=200))


class AttendanceFilterSchema(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    school_id = fields.Integer(validate=_id_range())
    user_id = fields.Integer(validate=_id_range())
    type = fields.String(validate=validate.OneOf(EVENT_TYPES, error="must be checkin or checkout"))
    from_ = Instant(data_key="from")
    to = Instant()
