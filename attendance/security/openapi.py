"""The OpenAPI document tells the truth about authentication and the errors it causes."""

from __future__ import annotations

import http
from decimal import Decimal
from typing import Any

import marshmallow as ma
from apispec import APISpec, BasePlugin
from apispec.ext.marshmallow import MarshmallowPlugin

from ..wire import is_api_path
from .principals import PUBLIC_PATHS

SCHEME = "bearerAuth"
WRITES = frozenset({"post", "put", "patch", "delete"})


class ErrorSchema(ma.Schema):
    """Every error body: `{"errors": {"field": ["message"]}}` or `{"errors": {"detail": "..."}}`."""

    errors = ma.fields.Dict(required=True, keys=ma.fields.String())


def _ref(code: int) -> str:
    return http.HTTPStatus(code).name


class SecurityDocs(BasePlugin):
    """Declare bearer auth, and the 400/401/403/404/413/429 answers each operation can give."""

    def init_spec(self, spec: APISpec) -> None:
        spec.components.security_scheme(
            SCHEME,
            {
                "type": "http",
                "scheme": "bearer",
                "description": "An API token from `flask --app attendance token create`: "
                "district (everything), school (one school), device (records that "
                "school's attendances, lists its users) or staff (accounts for that school's "
                "pupils in its roll calls, nothing else).",
            },
        )
        spec.options.setdefault("security", [{SCHEME: []}])

    def operation_helper(
        self, path: str | None = None, operations: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        if not path or not is_api_path(path) or path in PUBLIC_PATHS:
            return
        for method, operation in (operations or {}).items():
            if method not in {"get", "put", "post", "patch", "delete", "head"}:
                continue
            codes = [401, 403]
            if "{" in path:
                codes.append(404)
            if "requestBody" in operation:
                codes += [400, 413]
            if method in WRITES:
                codes.append(429)
            responses = operation.setdefault("responses", {})
            for code in codes:
                responses.setdefault(str(code), _ref(code))


BOUNDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")


def _numeric_bounds(
    self: Any, field: ma.fields.Field, ret: dict[str, Any], **kwargs: Any
) -> dict[str, Any]:
    """Decimal fields' bounds come out as Decimals, which JSON writes as strings: make numbers."""
    fixed: dict[str, Any] = {}
    for key in BOUNDS:
        value = ret.get(key)
        if isinstance(value, Decimal | str):
            number = Decimal(value)
            fixed[key] = int(number) if number == number.to_integral_value() else float(number)
    return fixed


class NumericBounds(BasePlugin):
    """Make `minimum`/`maximum` of decimal fields JSON numbers, as OpenAPI requires."""

    def init_spec(self, spec: APISpec) -> None:
        for plugin in spec.plugins:
            if isinstance(plugin, MarshmallowPlugin) and plugin.converter is not None:
                plugin.converter.add_attribute_function(_numeric_bounds)
