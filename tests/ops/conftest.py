"""Fixtures for the operations tests: apps with other settings, Redis, PostgreSQL.

The `spawn` fixture that starts real processes is shared: tests/conftest.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask

from attendance import create_app

from ..conftest import IN_CI, dispose

# Nothing listens on port 1: connections are refused at once.
CLOSED_PG = "postgresql+psycopg://attendance:s3cret-pw@127.0.0.1:1/attendance"
CLOSED_REDIS = "redis://:s3cret-pw@127.0.0.1:1/0"


@pytest.fixture
def make_app(app_config: dict[str, Any]) -> Iterator[Callable[..., Flask]]:
    """Apps like the session's, with overrides; their pools are closed afterwards.

    Making an app configures the root logger; the test's changes to it are undone.
    """
    import logging

    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    made: list[Flask] = []

    def make(**overrides: Any) -> Flask:
        app = create_app({**app_config, **overrides})
        made.append(app)
        return app

    yield make
    for app in made:
        dispose(app)
    root.setLevel(level)
    root.handlers[:] = handlers


@pytest.fixture
def postgres(app_config: dict[str, Any]) -> str:
    """The PostgreSQL test database (worker processes cannot share a SQLite file safely)."""
    url = app_config["SQLALCHEMY_DATABASE_URI"]
    if not url.startswith("postgresql"):
        if IN_CI:
            pytest.fail("CI=true: DATABASE_URL does not name a PostgreSQL database")
        pytest.skip("DATABASE_URL does not name a PostgreSQL database")
    return str(url)


def json_lines(text: str) -> list[dict[str, Any]]:
    """The JSON objects among the lines of a log."""
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                found.append(json.loads(line))
            except ValueError:
                continue
    return found
