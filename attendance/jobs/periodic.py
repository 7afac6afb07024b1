"""Periodic steps: what a loop that turns every few seconds (a worker's reaper thread,
`flask serve`'s thread without Redis) runs less often."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Every(Generic[T]):
    """A step run at most once every `seconds` by a loop that turns more often; returns
    the step's result, or None when it is not due.

    A pass that fails (raises) is due again after `retry_after` seconds, if that is
    sooner; each loop holds its own, so its process runs the step at that pace.
    """

    def __init__(
        self, seconds: float, step: Callable[[], T], *, retry_after: float | None = None
    ) -> None:
        self.seconds = seconds
        self.retry_after = seconds if retry_after is None else min(retry_after, seconds)
        self.step = step
        self.__name__ = step.__name__  # the loop's log names the step
        self._due = 0.0  # time.monotonic() of the next pass

    def __call__(self) -> T | None:
        now = time.monotonic()
        if now < self._due:
            return None
        self._due = now + self.retry_after  # should this pass fail
        result = self.step()
        self._due = now + self.seconds
        return result
