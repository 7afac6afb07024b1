"""The periodic steps' pace (jobs/periodic.py), on a clock the test moves."""

from __future__ import annotations

import pytest

from attendance.jobs import periodic
from attendance.jobs.periodic import Every


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [1000.0]
    monkeypatch.setattr(periodic.time, "monotonic", lambda: now[0])
    return now


def test_a_step_runs_at_once_then_once_per_interval(clock: list[float]) -> None:
    runs: list[float] = []

    def step() -> str:
        runs.append(clock[0])
        return "done"

    every = Every(60.0, step)
    assert every.__name__ == "step"
    assert every() == "done"
    clock[0] += 59.0
    assert every() is None
    clock[0] += 1.0
    assert every() == "done"
    assert runs == [1000.0, 1060.0]


def test_a_failed_pass_is_tried_again_sooner(clock: list[float]) -> None:
    outcomes = iter([RuntimeError("down"), "ok", "ok"])

    def step() -> str:
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    every = Every(3600.0, step, retry_after=60.0)
    with pytest.raises(RuntimeError):
        every()
    clock[0] += 59.0
    assert every() is None
    clock[0] += 1.0
    assert every() == "ok"  # a minute after the failure, not an hour
    clock[0] += 3599.0
    assert every() is None
    clock[0] += 1.0
    assert every() == "ok"


def test_without_retry_after_a_failed_pass_waits_the_interval(clock: list[float]) -> None:
    def step() -> None:
        raise RuntimeError("down")

    every = Every(60.0, step)
    with pytest.raises(RuntimeError):
        every()
    clock[0] += 59.0
    assert every() is None
