"""Pieces every API module shares: the request-body base schema, pagination, errors."""

from __future__ import annotations

from functools import cache
from typing import Any

import marshmallow as ma
from flask import abort as flask_abort
from flask_smorest import abort
from sqlalchemy import Select, func, select

from ..extensions import db


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
            return data[self.envelope]
        return data


class PageArgs(ma.Schema):
    """Pagination query parameters."""

    class Meta:
        unknown = ma.EXCLUDE

    page = ma.fields.Integer(load_default=1, validate=ma.validate.Range(min=1, max=10_000_000))
    per_page = ma.fields.Integer(load_default=50, validate=ma.validate.Range(min=1, max=1000))


class MetaSchema(ma.Schema):
    page = ma.fields.Integer()
    per_page = ma.fields.Integer()
    total = ma.fields.Integer()


@cache
def envelope(item: type[ma.Schema], *, many: bool = False) -> type[ma.Schema]:
    """A response schema `{"data": item}` (lists also carry `meta`), for the OpenAPI document."""
    attrs: dict[str, Any] = {"data": ma.fields.Nested(item, many=many, required=True)}
    if many:
        attrs["meta"] = ma.fields.Nested(MetaSchema)
    name = item.__name__.removesuffix("Schema") + ("Page" if many else "Envelope")
    return ma.Schema.from_dict(attrs, name=name)


def paginate(query: Select[Any], args: dict[str, Any]) -> dict[str, Any]:
    """One page of `query` with the `meta` object the wire format promises."""
    page, per_page = args["page"], args["per_page"]
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    items = db.session.scalars(query.limit(per_page).offset((page - 1) * per_page)).all()
    return {"data": items, "meta": {"page": page, "per_page": per_page, "total": total or 0}}


def get_or_404(model: type[Any], ident: int | str) -> Any:
    """The row, or a clean 404."""
    row = db.session.get(model, ident)
    if row is None:
        flask_abort(404)
    return row


def unprocessable(field: str, message: str) -> None:
    """Answer 422 with one message for one field."""
    abort(422, errors={field: [message]})


def conflict(message: str) -> None:
    """Answer 409 with a detail message."""
    abort(409, errors={"detail": message})
