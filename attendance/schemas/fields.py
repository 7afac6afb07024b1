"""Field types and the request-body base the API and the dashboard's forms share."""

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
from ..db_types import MAX_ID


@cache
def timezones() -> frozenset[str]:
    """Every IANA timezone name this Python knows."""
    return frozenset(zoneinfo.available_timezones())


def valid_timezone(name: str) -> None:
    """A validator: an IANA timezone name."""
    if name not in timezones():
        raise ma.ValidationError("must be an IANA timezone name, e.g. Europe/Paris")


def unique(values: list[Any]) -> None:
    """A validator: no value twice."""
    if len(set(values)) != len(values):
        raise ma.ValidationError("must not repeat a value")


def places(limit: int) -> Any:
    """A validator: at most `limit` decimal places."""

    def check(value: Decimal) -> None:
        exponent = value.as_tuple().exponent
        if isinstance(exponent, int) and exponent < -limit:
            raise ma.ValidationError(f"must have at most {limit} decimal places")

    return check


class _NoBooleans(fields.Field):
    """A number field that refuses JSON `true` and `false` (Python takes them for 1 and 0)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, bool):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class StrictInteger(_NoBooleans, fields.Integer):
    """An integer, strictly: JSON `true` is not 1, and 1.5 or "1" are not ids (1.5 was
    truncated to 1)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("strict", True)
        super().__init__(**kwargs)


class StrictDecimal(_NoBooleans, fields.Decimal):
    """A decimal that refuses booleans."""


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


def id_range() -> validate.Range:
    """A validator: an id the columns can hold."""
    return validate.Range(min=0, max=MAX_ID, error=f"must be an id from 0 to {MAX_ID}")


def required_name() -> Name:
    """A required name of 1 to 200 characters."""
    return Name(required=True, validate=validate.Length(min=1, max=200))


class BodySchema(ma.Schema):
    """A request body that may come bare or wrapped in the resource's singular name."""

    class Meta:
        unknown = ma.RAISE

    envelope: str = ""

    @ma.pre_load
    def unwrap(self, data: Any, **kwargs: Any) -> Any:
        if (
            self.envelope
            and isinstance(data, dict)
            and len(data) == 1
            and isinstance(data.get(self.envelope), dict)
        ):
            data = data[self.envelope]
        if isinstance(data, dict):
            _refuse_unstorable(data)
        return data


def _refuse_unstorable(data: dict[str, Any]) -> None:
    """Each field's text must be storable (`inputs.check_text`), in lists too.

    Checked here, before the fields, so every body refuses them alike, with the field named.
    Lists are walked without recursion: a parsed body may be nested a thousand deep.
    """
    bad: dict[str, list[str]] = {}
    for key, value in data.items():
        if not isinstance(value, str | list):
            continue  # numbers, booleans, null, objects: nothing to look at (most fields)
        pending = [value]
        while pending:
            item = pending.pop()
            if isinstance(item, str):
                try:
                    inputs.check_text(item)
                except inputs.InputError as error:
                    bad[str(key)] = [str(error)]
                    break
            elif isinstance(item, list):
                pending.extend(item)
    if bad:
        raise ma.ValidationError(bad)


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


MONTH_DAY = re.compile(r"(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])")


class MonthDay(fields.Field):
    """A day of the year as `"MM-DD"` (e.g. "09-01"); not 29 February, which most years lack."""

    default_error_messages = {"invalid": 'must be a month and day "MM-DD", e.g. "09-01"'}

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("metadata", {"type": "string", "pattern": MONTH_DAY.pattern})
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, str) or not MONTH_DAY.fullmatch(value):
            raise self.make_error("invalid")
        try:
            dt.date(2026, int(value[:2]), int(value[3:]))  # 2026: no 29 February
        except ValueError:
            raise self.make_error("invalid") from None
        return value
