"""/api/attendances/bulk: a device that was offline sends what it recorded, in one request."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import current_app, jsonify, request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import fields, validate

from ..extensions import db
from ..services import bulk as service
from .common import envelope
from .schemas import AttendanceInSchema

MAX_ITEMS = 5000

blp = Blueprint(
    "bulk",
    __name__,
    url_prefix="/api/attendances/bulk",
    description="Many attendance events at once, for devices that were offline",
)


class BulkItem(fields.Raw):
    """One event of a batch: loaded in the route, documented as AttendanceIn (see `document`)."""


def document(converter: Any, field: fields.Field, **kwargs: Any) -> dict[str, Any]:
    """An apispec attribute function: a BulkItem is documented as a reference to AttendanceIn."""
    if isinstance(field, BulkItem):
        return dict(converter.resolve_nested_schema(AttendanceInSchema))
    return {}


class BulkInSchema(ma.Schema):
    """The batch; each item is checked on its own (an invalid item does not sink the rest)."""

    attendances = fields.List(
        BulkItem(),
        required=True,
        validate=validate.Length(
            min=1, max=MAX_ITEMS, error=f"must hold from 1 to {MAX_ITEMS} items"
        ),
        metadata={"description": "Each item is a body of POST /api/attendances."},
    )


class BulkItemSchema(ma.Schema):
    index = fields.Integer(metadata={"description": "The item's position in the request."})
    status = fields.String(
        validate=validate.OneOf((service.CREATED, service.DUPLICATE, service.INVALID))
    )
    id = fields.Integer(metadata={"description": "created or duplicate: the stored record's id."})
    errors = fields.Dict(
        keys=fields.String(),
        values=fields.List(fields.String()),
        metadata={"description": "invalid: the messages per field, as POST /api/attendances."},
    )


class BulkResultSchema(ma.Schema):
    created = fields.Integer()
    duplicate = fields.Integer()
    invalid = fields.Integer()
    results = fields.List(fields.Nested(BulkItemSchema))


_item_schema = AttendanceInSchema()


@blp.before_request
def _allow_large_bodies() -> None:
    """A batch may be larger than the app-wide body limit (for this route only)."""
    request.max_content_length = current_app.config["BULK_MAX_CONTENT_LENGTH"]


@blp.route("")
class Bulk(MethodView):
    @blp.arguments(BulkInSchema)
    @blp.response(200, envelope(BulkResultSchema))
    def post(self, data: dict[str, Any]) -> Any:
        """Record up to 5,000 events; answers one result per item: created, duplicate or invalid."""
        events: list[Any] = []
        for item in data["attendances"]:
            try:
                events.append(_item_schema.load(item))
            except ma.ValidationError as error:
                events.append(service.Outcome(service.INVALID, errors=_field_errors(error)))
        outcomes = service.record_many(events)
        db.session.commit()
        results: list[dict[str, Any]] = []
        counts = {service.CREATED: 0, service.DUPLICATE: 0, service.INVALID: 0}
        for index, outcome in enumerate(outcomes):
            counts[outcome.status] += 1
            if outcome.status == service.INVALID:
                results.append({"index": index, "status": outcome.status, "errors": outcome.errors})
            else:
                results.append({"index": index, "status": outcome.status, "id": outcome.id})
        # Built by hand: dumping thousands of results through marshmallow costs more
        # than the insert; the schema above documents the same shape.
        return jsonify({"data": {**counts, "results": results}})


def _field_errors(error: ma.ValidationError) -> dict[str, Any]:
    """marshmallow's messages in the API's shape (`_schema` is the item as a whole)."""
    messages = error.messages if isinstance(error.messages, dict) else {"_schema": error.messages}
    return {("body" if k == "_schema" else k): v for k, v in messages.items()}
