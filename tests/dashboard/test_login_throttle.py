"""Sign-in throttling: per address, per (account, address) and per account, with backoff.

Guessing is slowed, and the account's owner still gets in from an address that has not
failed lately. Each test runs on an app of its own (its own counters), in memory and, when
REDIS_URL is set, on Redis.
"""

from __future__ import annotations

import os
import time
import types
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import limits.storage.memory
import limits.strategies
import pytest
from flask import Flask

from attendance import create_app
from attendance.security import login_throttle
from attendance.security.login_throttle import Backoff
from tests.conftest import IN_CI, dispose

from .conftest import PASSWORD, FreshClient, csrf_token

WRONG = "not the password at all"
BACKOFF = {"window": 900, "address_failures": 3, "account_failures": 6, "max_delay": 60}


class Clock:
    """A settable time.time() for the in-memory counters and the throttle."""

    def __init__(self) -> None:
        self.now = time.time()

    def time(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    namespace = types.SimpleNamespace(time=fake.time)
    for module in (limits.storage.memory, limits.strategies, login_throttle):
        monkeypatch.setattr(module, "time", namespace)
    return fake


def throttled_app(app_config: dict[str, Any], storage: str) -> Flask:
    """An app whose sign-ins are throttled (small thresholds), on memory or Redis counters."""
    settings: dict[str, Any] = {
        **app_config,
        "DASHBOARD_LOGIN_LIMIT": "100/minute",
        "DASHBOARD_LOGIN_BACKOFF": BACKOFF,
    }
    if storage == "redis":
        url = os.environ.get("REDIS_URL")
        if not url:
            if IN_CI:
                pytest.fail("CI=true but REDIS_URL is not set")
            pytest.skip("REDIS_URL is not set")
        settings |= {"REDIS_URL": url, "RATELIMIT_KEY_PREFIX": f"t-{uuid.uuid4().hex}"}
    return create_app(settings)


@pytest.fixture(params=["memory", "redis"])
def throttled(request, app_config: dict[str, Any], db: Any) -> Iterator[Flask]:
    app = throttled_app(app_config, request.param)
    yield app
    dispose(app)


@pytest.fixture
def in_memory(app_config: dict[str, Any], db: Any) -> Iterator[Flask]:
    """The in-memory one only: its time can be moved on (Redis keeps its own)."""
    app = throttled_app(app_config, "memory")
    yield app
    dispose(app)


def attempts(app: Flask) -> Callable[..., Any]:
    """Sign in from an address: `attempt(admin, password, "10.0.0.1")`, a fresh browser each."""

    def sign_in(admin: Any, password: str, address: str) -> Any:
        browser = FreshClient(app, app.response_class, use_cookies=True)
        browser.environ_base["REMOTE_ADDR"] = address
        token = csrf_token(browser)
        return browser.post(
            "/dashboard/login",
            data={"email": admin.email, "password": password, "csrf_token": token},
        )

    return sign_in


@pytest.fixture
def attempt(throttled: Flask) -> Callable[..., Any]:
    return attempts(throttled)


def test_backoff_doubles_up_to_its_cap():
    backoff = Backoff(address_failures=5, max_delay=900)
    delays = [backoff.delay(n, 5) for n in range(1, 17)]
    assert delays == [0, 0, 0, 0, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900, 900]
    assert backoff.delay(10**9, 5) == 900


def test_failures_lock_that_address_out_of_that_account(make_admin, attempt):
    admin = make_admin()
    assert [attempt(admin, WRONG, "10.0.0.1").status_code for _ in range(3)] == [401] * 3
    resp = attempt(admin, PASSWORD, "10.0.0.1")  # even the right password must wait
    assert resp.status_code == 429 and resp.headers["Retry-After"] == "2"
    assert "Too many failed sign-ins for this account" in resp.get_data(as_text=True)
    # The owner, from an address with no failures, gets in.
    assert attempt(admin, PASSWORD, "10.0.0.2").status_code == 302
    # The lock is this account's only: the same address may sign in to another account.
    assert attempt(make_admin(), PASSWORD, "10.0.0.1").status_code == 302


def test_the_delay_doubles_with_each_failure_and_then_lapses(make_admin, in_memory, clock):
    attempt = attempts(in_memory)
    admin = make_admin()
    waits = []
    for _ in range(3):
        attempt(admin, WRONG, "10.0.0.1")
    for _ in range(4):
        resp = attempt(admin, WRONG, "10.0.0.1")
        assert resp.status_code == 429  # not even checked, and not counted
        waits.append(int(resp.headers["Retry-After"]))
        clock.now += waits[-1]
        assert attempt(admin, WRONG, "10.0.0.1").status_code == 401  # the lock has lapsed
    assert waits == [2, 4, 8, 16]
    resp = attempt(admin, PASSWORD, "10.0.0.1")
    assert resp.status_code == 429 and resp.headers["Retry-After"] == "32"
    clock.now += 32
    assert attempt(admin, PASSWORD, "10.0.0.1").status_code == 302


def test_spraying_from_many_addresses_slows_the_account(make_admin, attempt):
    admin = make_admin()
    sprayers = [f"10.1.0.{i}" for i in range(6)]
    assert [attempt(admin, WRONG, a).status_code for a in sprayers] == [401] * 6
    # Every address that guessed wrong now waits, whatever it sends.
    for address in sprayers:
        resp = attempt(admin, PASSWORD, address)
        assert resp.status_code == 429 and resp.headers["Retry-After"] == "2"
    # An address with no failures is still heard: a wrong guess fails, the owner gets in.
    assert attempt(admin, WRONG, "10.2.0.1").status_code == 401
    assert attempt(admin, PASSWORD, "10.2.0.2").status_code == 302


def test_a_success_forgets_that_address_failures(make_admin, attempt):
    admin = make_admin()
    for _ in range(2):
        attempt(admin, WRONG, "10.0.0.1")
    assert attempt(admin, PASSWORD, "10.0.0.1").status_code == 302
    # Two more mistakes later: still under the threshold, so the third is checked.
    assert [attempt(admin, WRONG, "10.0.0.1").status_code for _ in range(3)] == [401] * 3


def test_unknown_accounts_are_throttled_alike(make_admin, attempt):
    """The answers do not tell which emails have accounts."""
    ghost = types.SimpleNamespace(email="nobody@example.org")
    codes = [attempt(ghost, WRONG, "10.0.0.1").status_code for _ in range(4)]
    assert codes == [401, 401, 401, 429]


def test_the_address_limit_counts_failures_only(make_admin, throttled, attempt, monkeypatch):
    monkeypatch.setitem(throttled.config, "DASHBOARD_LOGIN_LIMIT", "2/minute")
    admin = make_admin()
    assert [attempt(admin, PASSWORD, "10.0.0.1").status_code for _ in range(4)] == [302] * 4
    others = [make_admin(), make_admin()]
    assert [attempt(a, WRONG, "10.0.0.1").status_code for a in others] == [401, 401]
    resp = attempt(admin, PASSWORD, "10.0.0.1")
    assert resp.status_code == 429
    assert "Too many sign-in attempts from this address" in resp.get_data(as_text=True)
    assert attempt(admin, PASSWORD, "10.0.0.2").status_code == 302
