"""/api/attendances/bulk: a device that was offline sends what it recorded, in one request."""

from __future__ import annotations

import json
from typing import Any

import marshmallow as ma
import orjson
from flask import current_app, request
from flask.views import MethodView
from marshmallow import fields, validate

from ..extensions import db
from ..jobs.webhooks import fevers_recorded
from ..schemas.loader import BodyLoader, Memo
from ..security.principals import allow, claim_school
from ..security.roles import DEVICE, SCHOOL
from ..services import bulk as service
from .common import Blueprint, envelope
from .schemas import AttendanceInSchema

MAX_ITEMS = 5000

blp = Blueprint(
    "bulk",
    __name__,
    url_prefix="/api/attendances/bulk",
    description="Many attendance events at once, for devices that were offline",
)


class BulkItem(fields.Raw):
    """One event of a batch: loaded in the route, documented as AttendanceIn (see `document`).

    Taken as it is, as `Raw` takes it, without marshmallow's bookkeeping per value (a
    validator built and run per item, for none): 5,000 times a batch. Null and missing
    values still go through `Raw`, which refuses them.
    """

    def deserialize(
        self, value: Any, attr: str | None = None, data: Any = None, **kwargs: Any
    ) -> Any:
        if value is None or value is ma.missing or self.validators:
            return super().deserialize(value, attr, data, **kwargs)
        return value


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


# Items are loaded as `AttendanceInSchema().load(item)` would (schemas/loader.py); within
# a batch, each value of these fields is deserialized once.
_items = BodyLoader(
    AttendanceInSchema(), repetitive=frozenset({"user_id", "school_id", "type", "temperature"})
)


def load_all(items: list[Any]) -> list[dict[str, Any] | ma.ValidationError]:
    """Each item as the schema loads it, or the ValidationError it raises."""
    memo: Memo = {}
    loaded: list[dict[str, Any] | ma.ValidationError] = []
    for item in items:
        try:
            loaded.append(_items.load(item, memo))
        except ma.ValidationError as error:
            loaded.append(error)
    return loaded


@blp.before_request
def _allow_large_bodies() -> None:
    """A batch may be larger than the app-wide body limit (for this route only)."""
    request.max_content_length = current_app.config["BULK_MAX_CONTENT_LENGTH"]


@blp.route("")
class Bulk(MethodView):
    @allow(SCHOOL, DEVICE)
    @blp.arguments(BulkInSchema)
    @blp.response(200, envelope(BulkResultSchema))
    def post(self, data: dict[str, Any]) -> Any:
        """Record up to 5,000 events; answers one result per item: created, duplicate or invalid.

        Like a single POST, a batch naming a school the token may not act for is 403 as a
        whole (decided without a look-up); items the schema refuses are answered one by one.
        """
        loaded = load_all(data["attendances"])
        for school_id in sorted({i["school_id"] for i in loaded if isinstance(i, dict)}):
            claim_school(school_id)
        events = [_refused(i) if isinstance(i, ma.ValidationError) else i for i in loaded]
        outcomes = service.record_many(events)
        db.session.commit()
        created = [
            (o.id, o.timestamp)
            for o in outcomes
            if o.status == service.CREATED and o.id is not None and o.timestamp is not None
        ]
        fevers_recorded(created, sorted({i["school_id"] for i in loaded if isinstance(i, dict)}))
        results: list[dict[str, Any]] = []
        counts = {service.CREATED: 0, service.DUPLICATE: 0, service.INVALID: 0}
        for index, outcome in enumerate(outcomes):
            counts[outcome.status] += 1
            if outcome.status == service.INVALID:
                results.append({"index": index, "status": outcome.status, "errors": outcome.errors})
            else:
                results.append({"index": index, "status": outcome.status, "id": outcome.id})
        # Built by hand: dumping thousands of results through marshmallow costs more
        # than the insert; the schema above documents the same shape. orjson writes
        # them (ints, texts, lists of texts) several times faster than the standard library.
        payload = {"data": {**counts, "results": results}}
        try:
            body = orjson.dumps(payload)
        except TypeError:  # a refused item's message names a key with a lone surrogate
            body = json.dumps(payload).encode()  # which the standard library escapes
        return current_app.response_class(body, mimetype="application/json")


def _refused(error: ma.ValidationError) -> service.Outcome:
    """An item the schema refused, with marshmallow's messages in the API's shape."""
    messages = error.messages if isinstance(error.messages, dict) else {"_schema": error.messages}
    errors = {("body" if k == "_schema" else k): v for k, v in messages.items()}
    return service.Outcome(service.INVALID, errors=errors)
