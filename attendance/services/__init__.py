"""Services: load and store through the session, apply the rules; they flush, never commit."""

from __future__ import annotations


def dialect() -> str:
    """The name of the session's database: "postgresql" or "sqlite"."""
    from ..extensions import db

    return db.session.get_bind().dialect.name


class ServiceError(Exception):
    """A request the service refuses, with the field (or `detail`) it concerns."""

    status = 422

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class Conflict(ServiceError):
    """The request clashes with the data as it stands (e.g. deleting a school with history)."""

    status = 409

    def __init__(self, message: str) -> None:
        super().__init__("detail", message)
