"""The wire format's shared pieces: which requests are the API's, and the error envelope.

Imports nothing of the package, so that the API, the error handlers and the security
layer (which runs before any blueprint) can all lean on it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Response, jsonify, request

API_PREFIX = "/api"


def is_api_path(path: str) -> bool:
    """True for the API's paths: `/api` and everything under `/api/` (not `/apis`)."""
    return path == API_PREFIX or path.startswith(API_PREFIX + "/")


def is_api_request() -> bool:
    """True while handling a request to the API (JSON answers, bearer tokens)."""
    return is_api_path(request.path)


def error_body(errors: Mapping[str, Any]) -> dict[str, Any]:
    """The error envelope: `{"errors": {field: [messages]}}` or `{"errors": {"detail": text}}`."""
    return {"errors": dict(errors)}


def error_response(
    errors: Mapping[str, Any], status: int, headers: Mapping[str, str] | None = None
) -> Response:
    """A JSON error answer in the envelope."""
    response = jsonify(error_body(errors))
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response
