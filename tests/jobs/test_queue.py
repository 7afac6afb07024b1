"""The dispatchers' announcement of a report's end, which wakes the requests waiting for it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from attendance.jobs.queue import InlineDispatcher, RQDispatcher


def woken_after(dispatcher: Any, announce: Callable[[], None], seconds: float) -> float:
    """How long wait(seconds) took with announce() called 0.2 s into it."""
    with dispatcher.listen(["r1", "r2"]) as wait:
        timer = threading.Timer(0.2, announce)
        timer.start()
        began = time.monotonic()
        wait(seconds)
        took = time.monotonic() - began
        timer.join()
    return took


@pytest.fixture(params=["rq", "inline"])
def dispatcher(request: pytest.FixtureRequest, app: Any) -> Any:
    if request.param == "inline":
        return InlineDispatcher(app)
    return RQDispatcher(request.getfixturevalue("redis_url"), "announce-test")


def test_an_announced_end_wakes_the_waiter(dispatcher: Any) -> None:
    assert woken_after(dispatcher, lambda: dispatcher.announce(["r2"]), 10) < 5


def test_without_an_announcement_the_wait_runs_out(dispatcher: Any) -> None:
    with dispatcher.listen(["r1"]) as wait:
        began = time.monotonic()
        wait(0.3)
        assert 0.25 <= time.monotonic() - began < 5


def test_another_reports_end_does_not_wake_an_rq_waiter(redis_url: str) -> None:
    rq = RQDispatcher(redis_url, "announce-test")
    assert woken_after(rq, lambda: rq.announce(["someone-else"]), 1.0) >= 0.9


def test_without_redis_the_waiter_falls_back_to_sleeping() -> None:
    closed = RQDispatcher("redis://127.0.0.1:1/0", "announce-test")  # nothing listens there
    with closed.listen(["r1"]) as wait:
        began = time.monotonic()
        wait(0.1)
        assert 0.09 <= time.monotonic() - began < 5
