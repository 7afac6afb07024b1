"""Slowing down password guessing on the dashboard's sign-in, without locking out its owner.

Only failed sign-ins count, in three ways (on the rate limiter's storage: Redis when
REDIS_URL is set, else this process's memory):

- per address, DASHBOARD_LOGIN_LIMIT (10 a minute): one address trying many accounts;
- per account and address, strongly: from the `address_failures`-th failure in a row
  (5), that address waits before trying that account again, twice as long after each
  further failure (2 s, 4 s, 8 s, ... up to `max_delay`);
- per account, weakly: from the `account_failures`-th failure from any address (20), the
  account backs off the same way, but only for addresses that have failed on it lately.

An address with no recent failure on the account is never held back by it, so the owner
signing in from a new place gets in while an attacker spraying guesses from many
addresses is slowed once each address has guessed wrong. Failures are remembered for
`window` seconds after the first one; a successful sign-in forgets its address's failures
on that account. Storage trouble lets sign-ins through (as the API's limits do).
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass
from typing import Any

from flask import current_app
from flask_limiter.util import get_remote_address
from limits import parse

from .admins import normalise_email

BY_ADDRESS = "address"
BY_ACCOUNT = "account"


@dataclass(frozen=True)
class Backoff:
    """The settings of DASHBOARD_LOGIN_BACKOFF."""

    window: int = 900
    address_failures: int = 5
    account_failures: int = 20
    max_delay: int = 900

    def delay(self, failures: int, threshold: int) -> int:
        """Seconds to wait after `failures` failures: none below `threshold`, then doubling."""
        if failures < threshold:
            return 0
        return min(self.max_delay, 2 ** min(failures - threshold + 1, 30))


@dataclass(frozen=True)
class Wait:
    """Why a sign-in must wait, and for how many seconds."""

    reason: str
    seconds: int


def _settings() -> Backoff:
    return Backoff(**current_app.config.get("DASHBOARD_LOGIN_BACKOFF", {}))


def _limiter() -> Any:
    limiter = current_app.extensions.get("attendance_limiter")
    if limiter is None or not current_app.config.get("RATELIMIT_ENABLED", True):
        return None
    return limiter.limiter  # the strategy: follows Flask-Limiter's in-memory fallback


def _prefix() -> str:
    return f"{current_app.config.get('RATELIMIT_KEY_PREFIX', 'attendance')}/login"


def _keys(email: str, address: str) -> tuple[str, str, str, str]:
    """Failure counters and locks of the account and of (account, address)."""
    # Hashed: bounded keys whatever was typed, and no email in Redis.
    account = hashlib.sha256(normalise_email(email).encode()).hexdigest()[:32]
    prefix = _prefix()
    return (
        f"{prefix}/fail/{account}",
        f"{prefix}/fail/{account}/{address}",
        f"{prefix}/lock/{account}",
        f"{prefix}/lock/{account}/{address}",
    )


def _remaining(storage: Any, lock: str) -> int:
    if storage.get(lock) <= 0:
        return 0
    return max(1, math.ceil(storage.get_expiry(lock) - time.time()))


def wait(email: str) -> Wait | None:
    """How long this sign-in attempt must wait before its password is even checked."""
    limiter = _limiter()
    if limiter is None:
        return None
    address = get_remote_address()
    try:
        limit = parse(current_app.config["DASHBOARD_LOGIN_LIMIT"])
        if not limiter.test(limit, _prefix(), address):
            reset = limiter.get_window_stats(limit, _prefix(), address).reset_time
            return Wait(BY_ADDRESS, max(1, math.ceil(reset - time.time())))
        storage = limiter.storage
        _, pair_failures, account_lock, pair_lock = _keys(email, address)
        seconds = _remaining(storage, pair_lock)
        if not seconds and storage.get(pair_failures) > 0:
            seconds = _remaining(storage, account_lock)
        return Wait(BY_ACCOUNT, seconds) if seconds else None
    except Exception:  # noqa: BLE001 - storage trouble: like the API's limits, fail open
        return None


def failed(email: str) -> None:
    """Count a failed sign-in against the address, the (account, address) and the account."""
    limiter = _limiter()
    if limiter is None:
        return
    address, backoff = get_remote_address(), _settings()
    try:
        limiter.hit(parse(current_app.config["DASHBOARD_LOGIN_LIMIT"]), _prefix(), address)
        storage = limiter.storage
        account_failures, pair_failures, account_lock, pair_lock = _keys(email, address)
        for counter, lock, threshold in (
            (pair_failures, pair_lock, backoff.address_failures),
            (account_failures, account_lock, backoff.account_failures),
        ):
            delay = backoff.delay(storage.incr(counter, backoff.window), threshold)
            if delay:
                storage.clear(lock)
                storage.incr(lock, delay)
    except Exception:  # noqa: BLE001 - storage trouble: fail open
        return


def succeeded(email: str) -> None:
    """Forget this address's failures on the account (the account's own count stays)."""
    limiter = _limiter()
    if limiter is None:
        return
    _, pair_failures, _, pair_lock = _keys(email, get_remote_address())
    try:
        limiter.storage.clear(pair_failures)
        limiter.storage.clear(pair_lock)
    except Exception:  # noqa: BLE001 - storage trouble: fail open
        return
