"""Error responses: clean JSON under /api, clean pages elsewhere, never a stack trace."""

from __future__ import annotations

from typing import Any

from flask import Flask, render_template
from werkzeug.exceptions import HTTPException, InternalServerError, ServiceUnavailable

from .jobs.queue import QueueUnavailable
from .services import ServiceError
from .wire import error_response, is_api_request

MESSAGES = {
    400: "The request could not be understood. If you were sending a form, go back, reload "
    "the page and try again.",
    401: "Please sign in first.",
    403: "Your account cannot see this page: it belongs to another school.",
    404: "There is nothing at this address.",
    405: "This page cannot be used that way.",
    500: "Something went wrong on our side. Please try again in a moment.",
    503: "This is unavailable right now. Please try again in a moment.",
}


def _service_error(error: ServiceError) -> Any:
    message = error.message if error.field == "detail" else [error.message]
    return error_response({error.field: message}, error.status)


def html_error(error: HTTPException) -> Any:
    """The error page of the HTML side (the dashboard)."""
    code = error.code or 500
    message = MESSAGES.get(code, error.name)
    body = render_template("errors/error.html", code=code, name=error.name, message=message)
    headers = {k: v for k, v in error.get_headers() if k.lower() != "content-type"}
    return body, code, headers


def _internal(error: InternalServerError) -> Any:
    if is_api_request():
        return error_response({"detail": "Internal Server Error"}, 500)
    return html_error(error)


def _queue_unavailable(error: QueueUnavailable) -> Any:
    """503 with Retry-After: the client may simply ask again (the dashboard's pages handle
    it themselves, see attendance.dashboard.pipeline; this covers the rest)."""
    unavailable = ServiceUnavailable(error.detail, retry_after=error.retry_after)
    if is_api_request():
        return error_response(
            {"detail": error.detail}, 503, {"Retry-After": str(error.retry_after)}
        )
    return html_error(unavailable)


def init_app(app: Flask) -> None:
    """Register the handlers (the API's HTTP errors are shaped by its Api object)."""
    app.register_error_handler(ServiceError, _service_error)
    app.register_error_handler(InternalServerError, _internal)
    app.register_error_handler(QueueUnavailable, _queue_unavailable)
