"""App.ensure_sync: Flask's answers, each function inspected once."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from attendance import App


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The functions `inspect.iscoroutinefunction` is asked about."""
    asked: list[Any] = []
    real = inspect.iscoroutinefunction

    def counting(func: Any) -> bool:
        if not getattr(func, "__name__", "").startswith("test_"):  # pytest asks too
            asked.append(func)
        return real(func)

    monkeypatch.setattr(inspect, "iscoroutinefunction", counting)
    return asked


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch) -> App:
    app = App(__name__)
    # async_to_sync needs asgiref (Flask's "async" extra); what it is given is what counts.
    monkeypatch.setattr(app, "async_to_sync", lambda func: ("wrapped", func))
    return app


def plain() -> str:
    return "plain"


async def coroutine() -> str:
    return "coroutine"


class View:
    def get(self) -> str:
        return "get"

    async def post(self) -> str:
        return "post"


def test_answers_as_flask_does(app: App) -> None:
    assert app.ensure_sync(plain) is plain
    assert app.ensure_sync(coroutine) == ("wrapped", coroutine)
    method = View().post
    assert app.ensure_sync(method) == ("wrapped", method)
    # Asked again: the same answers, from the memo.
    assert app.ensure_sync(plain) is plain
    assert app.ensure_sync(coroutine) == ("wrapped", coroutine)


def test_each_function_is_inspected_once(app: App, counted: list[Any]) -> None:
    for _ in range(3):
        app.ensure_sync(plain)
        app.ensure_sync(View().get)  # a new instance per request, as a MethodView makes
    assert len(counted) == 2
    bound = View().get
    assert app.ensure_sync(bound) is bound  # the bound method itself, not its function


def test_an_unhashable_callable_is_inspected_each_time(app: App, counted: list[Any]) -> None:
    class Unhashable:
        __hash__ = None  # type: ignore[assignment]

        def __call__(self) -> str:
            return "called"

    func = Unhashable()
    assert app.ensure_sync(func) is func
    assert app.ensure_sync(func) is func
    assert len(counted) == 2


def test_the_memo_is_bounded(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(App, "SYNC_MEMO_MAX", 10)
    made = []
    for n in range(25):  # as `after_this_request` makes a function per request

        def per_request(n: int = n) -> int:
            return n

        made.append(per_request)
        assert app.ensure_sync(per_request) is per_request
        assert len(app._coroutine) <= 10
