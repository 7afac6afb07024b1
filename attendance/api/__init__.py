"""The JSON API blueprint(s): the Phoenix service's routes plus what a deployment needs."""

from __future__ import annotations

from typing import Any

from apispec.ext.marshmallow import MarshmallowPlugin
from apispec.ext.marshmallow.common import resolve_schema_cls
from flask import Flask
from flask_smorest import Api as _Api
from werkzeug.exceptions import HTTPException

from ..security.openapi import ErrorSchema, NumericBounds, SecurityDocs
from ..wire import error_response, is_api_request
from . import (
    attendances,
    bulk,
    docs,
    fever,
    marks,
    reports,
    roll_calls,
    roster,
    schools,
    users,
    webhooks,
)
from .common import BigIdConverter, IdConverter


def _flatten(messages: Any) -> dict[str, Any]:
    """webargs groups messages by location (`json`, `query`); the wire format does not."""
    errors: dict[str, Any] = {}
    if isinstance(messages, dict):
        for value in messages.values():
            if isinstance(value, dict):
                for field, msgs in value.items():
                    errors["body" if field == "_schema" else field] = msgs
            elif isinstance(value, list):
                errors["detail"] = " ".join(str(m) for m in value)
    return errors


class Api(_Api):
    """flask-smorest's Api with the Phoenix service's error shape: `{"errors": {...}}`."""

    ERROR_SCHEMA = ErrorSchema

    def handle_http_exception(self, error: HTTPException) -> Any:
        if not is_api_request():
            from ..errors import html_error

            return html_error(error)
        data = getattr(error, "data", None) or {}
        errors = data.get("errors") or _flatten(data.get("messages")) or {"detail": error.name}
        response = error_response(errors, error.code or 500)
        for name, value in error.get_headers():
            if name.lower() != "content-type":
                response.headers[name] = value
        for name, value in (data.get("headers") or {}).items():
            response.headers[name] = value
        return response


def _schema_name(schema: Any) -> str:
    """OpenAPI component names; a partial (PATCH) body is its own component."""
    resolved = resolve_schema_cls(schema)
    cls = resolved[0] if isinstance(resolved, list) else resolved
    name = cls.__name__.removesuffix("Schema")
    return name + "Patch" if getattr(schema, "partial", False) else name


def init_app(app: Flask) -> None:
    """Make the app's Api (one per app: it holds that app's OpenAPI spec) and its blueprints."""
    app.url_map.converters["int"] = IdConverter
    app.url_map.converters["bigid"] = BigIdConverter
    plugin = MarshmallowPlugin(_schema_name)
    api = Api(
        app,
        spec_kwargs={
            "marshmallow_plugin": plugin,
            "extra_plugins": [SecurityDocs(), NumericBounds()],
        },
    )
    if plugin.converter is not None:  # set by Api(): the spec is made at once
        plugin.converter.add_attribute_function(bulk.document)
    for module in (
        schools,
        marks,
        roster,
        users,
        attendances,
        bulk,
        reports,
        fever,
        webhooks,
        roll_calls,
    ):
        api.register_blueprint(module.blp)
    docs.init_app(app)
