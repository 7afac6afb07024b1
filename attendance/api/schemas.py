"""marshmallow schemas: what the API accepts and what it answers."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from decimal import Decimal
from functools import cache
from typing import Any

import marshmallow as ma
from marshmallow import fields, validate

from .. import inputs
from ..models import EVENT_TYPES, MARK_ABSENT, MARK_PRESENT, User
from ..security.images import ImageInput, ImageOutput
from ..services import enrolments as spans
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


WALL_TIME = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]")


class WallTime(fields.Field):
    """A local wall time as `"HH:MM"` (24-hour), or null."""

    default_error_messages = {"invalid": 'must be a time "HH:MM" from 00:00 to 23:59, or null'}

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("metadata", {"type": "string", "pattern": WALL_TIME.pattern})
        super().__init__(**kwargs)

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return None if value is None else value.strftime("%H:%M")

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, str) or not WALL_TIME.fullmatch(value):
            raise self.make_error("invalid")
        return dt.time(int(value[:2]), int(value[3:]))


class StrictBoolean(fields.Boolean):
    """JSON true or false only (not "yes", 1 or "on")."""

    truthy = {True}
    falsy = {False}


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
    day_end = WallTime(allow_none=True)
    late_after = WallTime(allow_none=True)
    chronic_ratio = fields.Float()
    chronic_min_days = fields.Integer()
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
    day_end = WallTime(allow_none=True)
    late_after = WallTime(allow_none=True)
    chronic_ratio = StrictDecimal(
        validate=[
            validate.Range(min=0, max=1, min_inclusive=False, error="must be over 0 and at most 1"),
            _places(2),
        ]
    )
    chronic_min_days = StrictInteger(
        validate=validate.Range(min=1, max=10_000, error="must be an integer from 1 to 10000")
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


class UserInSchema(BodySchema):
    envelope = "user"

    name = _name()
    school_id = StrictInteger(required=True, validate=_id_range())
    enrolled_from = Day(allow_none=True)
    enrolled_until = Day(allow_none=True)
    external_id = Name(allow_none=True, validate=validate.Length(min=1, max=64))
    group = Name(allow_none=True, validate=validate.Length(min=1, max=64))


class UserFilterSchema(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    school_id = fields.Integer(validate=_id_range())
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
    status = fields.String(metadata={"enum": ["present", "absent", "cleared"]})
    reason = fields.String(allow_none=True)
    excused = fields.Boolean()
    created_by = fields.String(metadata={"description": "token:<id> or admin:<id>"})
    created_at = fields.AwareDateTime()


class MarkInSchema(BodySchema):
    """One date (`date`), or each school day of `from`..`to` the user is enrolled on."""

    envelope = "mark"

    user_id = StrictInteger(required=True, validate=_id_range())
    date = Day()
    from_ = Day(data_key="from")
    to = Day()
    status = fields.String(
        required=True,
        validate=validate.OneOf((MARK_PRESENT, MARK_ABSENT), error="must be present or absent"),
    )
    reason = Name(required=True, validate=validate.Length(min=1, max=200))
    excused = StrictBoolean(load_default=False)


class MarkFilterSchema(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    user_id = fields.Integer(validate=_id_range())
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
