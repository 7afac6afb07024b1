"""Fixtures of the webhook tests: a subscription maker, a movable clock."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient

from attendance import clock
from tests.conftest import FrozenClock

# The real-worker fixtures (PostgreSQL and Redis, or a failure under CI).
from ..jobs.test_rq_workers import redis_url, start_workers  # noqa: F401


@pytest.fixture
def subscribe(client: FlaskClient) -> Callable[..., dict[str, Any]]:
    """POST /api/webhooks as a district admin; the answer's data (with the secret)."""

    def make(url: str, event_types: list[str], school_id: int | None = None) -> dict[str, Any]:
        body = {"webhook": {"url": url, "event_types": event_types, "school_id": school_id}}
        answer = client.post("/api/webhooks", json=body)
        assert answer.status_code == 201, answer.json
        return answer.json["data"]

    return make


@pytest.fixture
def frozen(monkeypatch: pytest.MonkeyPatch) -> Callable[[dt.datetime], FrozenClock]:
    """Patch clock.now to a movable clock starting at the given instant."""

    def make(at: dt.datetime) -> FrozenClock:
        fake = FrozenClock(at)
        monkeypatch.setattr(clock, "now", fake)
        return fake

    return make
