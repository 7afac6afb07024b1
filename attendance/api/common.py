"""Pieces every API module shares: the body parser, id converters, pagination, errors."""

from __future__ import annotations

import json
from functools import cache
from typing import Any, NoReturn

import flask_smorest
import marshmallow as ma
from flask import Request, current_app
from flask import abort as flask_abort
from flask_smorest import abort
from sqlalchemy import Select, func, select
from webargs.flaskparser import FlaskParser, is_json_request
from werkzeug.routing import IntegerConverter, Map

from ..db_types import MAX_BIG_ID, MAX_ID
from ..extensions import db
from ..schemas.loader import loader_of
from ..security.principals import check_row


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


class Parser(FlaskParser):
    """webargs' parser, reading JSON bodies with the app's JSON provider.

    webargs parses with the standard library's json, whose RecursionError (deep nesting)
    and ValueError (integers of thousands of digits) escaped as 500s; the app's provider
    is orjson with the standard library behind it, and turns both into a malformed body.
    """

    def parse(
        self,
        argmap: Any,
        req: Request | None = None,
        *,
        location: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """A body schema marked `loaded_quickly` takes the shortcut of `schemas.loader`
        for a plain body; any other, and every other schema, webargs' own way."""
        loader = loader_of(argmap)
        if (
            loader is not None
            and (location or self.location) == "json"
            and not kwargs.get("validate")
        ):
            request = req if req is not None else self.get_default_request()
            body = self.load_json(request, argmap) if request is not None else ma.missing
            if body is not ma.missing and (loaded := loader.quick(body)) is not None:
                return loaded
        return super().parse(argmap, req, location=location, **kwargs)

    def _raw_load_json(self, req: Request) -> Any:
        if not is_json_request(req):
            return ma.missing
        return current_app.json.loads(req.get_data(cache=True))

    def _handle_invalid_json_error(
        self,
        error: json.JSONDecodeError | UnicodeDecodeError,
        req: Request,
        *args: Any,
        **kwargs: Any,
    ) -> NoReturn:
        reason = error.msg if isinstance(error, json.JSONDecodeError) else "it is not UTF-8"
        abort(400, errors={"detail": f"The body is not valid JSON: {reason}."})
        raise AssertionError  # abort raises; this line tells type checkers


class Blueprint(flask_smorest.Blueprint):
    """flask-smorest's Blueprint with the parser above (every API module uses this one)."""

    ARGUMENTS_PARSER = Parser()


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
