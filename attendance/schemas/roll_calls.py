"""marshmallow schemas of roll calls: what the API and the dashboard's tick endpoint take
and answer (api.md "Roll calls")."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from marshmallow import fields, validate

from .fields import BodySchema, Instant, StrictBoolean, StrictInteger, id_range

MAX_TICKS = 1000
KEY_LENGTH = validate.Length(min=1, max=200)


class PupilSchema(ma.Schema):
    user_id = fields.Integer()
    name = fields.String()
    group = fields.String(allow_none=True)
    external_id = fields.String(allow_none=True)


class CountsSchema(ma.Schema):
    expected = fields.Integer()
    accounted = fields.Integer()
    missing = fields.Integer()
    unexpected = fields.Integer()
    left = fields.Integer()


class RollCallEntrySchema(ma.Schema):
    id = fields.Integer()
    user_id = fields.Integer()
    client_event_id = fields.String()
    at = fields.AwareDateTime()
    undo = fields.Boolean()


def _pupils(description: str) -> fields.List:
    return fields.List(fields.Nested(PupilSchema), metadata={"description": description})


class RollCallSummarySchema(ma.Schema):
    """A roll call with its counts (the list's items)."""

    id = fields.Integer(attribute="roll_call.id")
    school_id = fields.Integer(attribute="roll_call.school_id")
    status = fields.String(metadata={"enum": ["open", "closed"]})
    started_at = fields.AwareDateTime(attribute="roll_call.started_at")
    started_by = fields.String(attribute="roll_call.started_by")
    closed_at = fields.AwareDateTime(attribute="roll_call.closed_at", allow_none=True)
    closed_by = fields.String(attribute="roll_call.closed_by", allow_none=True)
    counts = fields.Nested(CountsSchema)


class RollCallSchema(RollCallSummarySchema):
    """A roll call with its lists, each pupil with their group and external id."""

    expected = _pupils("Checked in when the roll call started")
    accounted = _pupils("Every pupil ticked, expected or not")
    missing = _pupils("Expected and not accounted for")
    unexpected = _pupils("Accounted for but not expected (a device missed them)")
    left = _pupils("Checked out since the start")


class RollCallHistorySchema(RollCallSchema):
    """With `?entries=true`: every tick and undoing, oldest first."""

    entries = fields.List(fields.Nested(RollCallEntrySchema))


class RollCallArgs(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    entries = fields.Boolean(
        load_default=False, metadata={"description": "true: every entry too, undoings included"}
    )


class NoBodySchema(BodySchema):
    """Starting and closing take no fields: no body, or `{}`."""


class TickSchema(BodySchema):
    """One tick: a pupil accounted for (or, with `undo`, no longer)."""

    user_id = StrictInteger(required=True, validate=id_range())
    client_event_id = fields.String(required=True, validate=KEY_LENGTH)
    at = Instant(metadata={"description": "The phone's time of the tick; default: received"})
    undo = StrictBoolean(load_default=False)


class TicksInSchema(BodySchema):
    """One tick (`user_id`, `client_event_id`, `at`, `undo`), or `accounted`: a list of them."""

    user_id = StrictInteger(validate=id_range())
    client_event_id = fields.String(validate=KEY_LENGTH)
    at = Instant()
    undo = StrictBoolean()
    accounted = fields.List(
        fields.Nested(TickSchema),
        validate=validate.Length(
            min=1, max=MAX_TICKS, error=f"must hold from 1 to {MAX_TICKS} ticks"
        ),
    )

    @ma.validates_schema
    def one_or_many(self, data: dict[str, Any], **kwargs: Any) -> None:
        if "accounted" in data:
            extra = sorted(set(data) - {"accounted"})
            if extra:
                raise ma.ValidationError({name: ["not allowed beside accounted"] for name in extra})
            return
        missing = [name for name in ("user_id", "client_event_id") if name not in data]
        if missing:
            raise ma.ValidationError(
                {name: ["Missing data for required field."] for name in missing}
            )


class TicksOutSchema(ma.Schema):
    """The entry of one tick, or the list of entries of `accounted`, in the order sent."""

    data = fields.Raw(
        required=True,
        metadata={
            "oneOf": [
                {"type": "object"},
                {"type": "array", "items": {"type": "object"}},
            ]
        },
    )
