"""Schools and their closures: what the API answers and what it and the dashboard accept."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from .fields import (
    BodySchema,
    Day,
    MonthDay,
    Name,
    StrictDecimal,
    StrictInteger,
    WallTime,
    places,
    required_name,
    unique,
    valid_timezone,
)


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
    alert_streak_days = fields.Integer()
    year_start = fields.String()
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()


class SchoolInSchema(BodySchema):
    envelope = "school"

    name = required_name()
    timezone = fields.String(validate=valid_timezone)
    school_days = fields.List(
        StrictInteger(validate=validate.Range(min=1, max=7, error="must be ISO weekdays 1 to 7")),
        validate=[validate.Length(min=1, error="must name at least one day"), unique],
    )
    min_daily_hours = StrictDecimal(
        validate=[
            validate.Range(
                min=0, max=24, min_inclusive=False, error="must be over 0 and at most 24"
            ),
            places(2),
        ]
    )
    period_ratio = StrictDecimal(
        validate=[
            validate.Range(min=0, max=1, max_inclusive=False, error="must be from 0 to under 1"),
            places(3),
        ]
    )
    fever_threshold = StrictDecimal(
        validate=[validate.Range(min=28, max=43, error="must be between 28 and 43"), places(1)]
    )
    day_end = WallTime(allow_none=True)
    late_after = WallTime(allow_none=True)
    chronic_ratio = StrictDecimal(
        validate=[
            validate.Range(min=0, max=1, min_inclusive=False, error="must be over 0 and at most 1"),
            places(2),
        ]
    )
    chronic_min_days = StrictInteger(
        validate=validate.Range(min=1, max=10_000, error="must be an integer from 1 to 10000")
    )
    alert_streak_days = StrictInteger(
        validate=validate.Range(min=1, max=366, error="must be an integer from 1 to 366")
    )
    year_start = MonthDay()


class ClosureSchema(ma.Schema):
    id = fields.Integer()
    school_id = fields.Integer()
    date = fields.Date()
    name = fields.String(allow_none=True)


class ClosureInSchema(BodySchema):
    envelope = "closure"

    date = Day(required=True)
    name = Name(allow_none=True, validate=validate.Length(max=200))
