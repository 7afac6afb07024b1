"""Error responses: clean JSON under /api, clean pages elsewhere, never a stack trace."""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException, InternalServerError

from .services import ServiceError


def _service_error(error: ServiceError) -> Any:
    return jsonify(
        {"errors": {error.field: [error.message] if error.field != "detail" else error.message}}
    ), error.status


def _html(error: HTTPException) -> Any:
    code = error.code or 500
    body = (
        "<!doctype html><html lang=en><meta charset=utf-8>"
        f"<title>{code} {error.name}</title><h1>{code} {error.name}</h1></html>"
    )
    return body, code, {"Content-Type": "text/html; charset=utf-8"}


def _internal(error: InternalServerError) -> Any:
    if request.path.startswith("/api"):
        return jsonify({"errors": {"detail": "Internal Server Error"}}), 500
    return _html(error)


def init_app(app: Flask) -> None:
    """Register the handlers (the API's HTTP errors are shaped by its Api object)."""
    app.register_error_handler(ServiceError, _service_error)
    app.register_error_handler(InternalServerError, _internal)
