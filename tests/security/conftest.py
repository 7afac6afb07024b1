"""Fixtures for the security tests: extra apps on the same test database."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask

from attendance import create_app
from tests.conftest import dispose

PRODUCTION_KEY = "a-production-secret-key-of-at-least-32-characters"


@pytest.fixture
def make_app(app_config: dict[str, Any], db: Any) -> Iterator[Callable[..., Flask]]:
    """Another app on the test database with some settings changed (disposed afterwards)."""
    made: list[Flask] = []

    def make(**overrides: Any) -> Flask:
        new = create_app({**app_config, **overrides})
        made.append(new)
        return new

    yield make
    for made_app in made:
        dispose(made_app)


@pytest.fixture
def production_app(make_app: Callable[..., Flask]) -> Flask:
    """The app as deployed: production mode, not TESTING, with test-only failing routes."""
    prod = make_app(ATTENDANCE_ENV="production", SECRET_KEY=PRODUCTION_KEY, TESTING=False)

    @prod.get("/api/test-boom")
    def api_boom() -> Any:
        raise RuntimeError("SELECT password FROM admins -- secret detail " + PRODUCTION_KEY)

    @prod.get("/test-boom")
    def page_boom() -> Any:
        raise RuntimeError("SELECT password FROM admins -- secret detail " + PRODUCTION_KEY)

    return prod
