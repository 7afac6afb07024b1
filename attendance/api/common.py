"""Pieces every API module shares: the request-body base schema, pagination, errors."""

from __future__ import annotations

from functools import cache
from typing import Any

import marshmallow as ma
from flask import abort as flask_abort
from flask_smorest import abort
from sqlalchemy import Select, func, select
from werkzeug.routing import IntegerConverter, Map

from ..extensions import db
from ..security.principals import check_row

# The largest ids the columns hold: INTEGER for most, BIGINT for attendances. A larger id
# reached the database and failed there (a 500) instead of being simply not found.
MAX_ID = 2**31 - 1
MAX_BIG_ID = 2**63 - 1


class IdConverter(IntegerConverter):
    """`<int:...>` in routes: an id of an INTEGER column (larger ones are not found)."""

    def __init__(self, map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


class BigIdConverter(IntegerConverter):
    """`<bigid:...>` in routes: an id of a BIGINT column."""

    def __init__(self, map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_BIG_ID)
        super().__init__(map, *args, **kwargs)


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
            _refuse_nul(data)
        return data


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list):
        return any(_has_nul(item) for item in value)
    return False


def _refuse_nul(data: dict[str, Any]) -> None:
    """No NUL characters in text: PostgreSQL cannot store them (it was a 500)."""
    bad = {str(key): ["must not contain NUL characters"] for key, v in data.items() if _has_nul(v)}
    if bad:
        raise ma.ValidationError(bad)


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
    """The row, or a clean 404 (also when it is outside the caller's school)."""
    row = db.session.get(model, ident)
    if row is None:
        flask_abort(404)
    check_row(row)
    return row


def unprocessable(field: str, message: str) -> None:
    """Answer 422 with one message for one field."""
    abort(422, errors={field: [message]})


def conflict(message: str) -> None:
    """Answer 409 with a detail message."""
    abort(409, errors={"detail": message})
