"""Webhooks: subscriptions, the events they get, and delivering them by the Standard Webhooks book.

- `targets`: which URLs a subscription may name, checked at creation and again at each try.
- `secrets`: signing secrets (shown once, stored encrypted) and the signature.
- `subscriptions`: create, list, rotate, delete.
- `events`: an event becomes one delivery row per subscription that wants it (the record).
- `delivery`: one try of a delivery over HTTP, its outcome, retries with backoff, the sweep.
- `dayclose`: closing a school's day once, and the events its figures decide.

The jobs that run them are in attendance/jobs/webhooks.py; these modules flush, never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ...config import Config


@dataclass(frozen=True)
class Settings:
    """The delivery knobs, from the app config; the defaults are `Config`'s."""

    timeout: float = Config.WEBHOOK_TIMEOUT
    retry_base: float = Config.WEBHOOK_RETRY_BASE
    max_attempts: int = Config.WEBHOOK_MAX_ATTEMPTS
    disable_after: float = Config.WEBHOOK_DISABLE_AFTER
    catchup_days: int = Config.WEBHOOK_CATCHUP_DAYS


def settings_from(config: Any) -> Settings:
    """Read the webhook settings from a Flask config mapping."""
    return Settings(
        timeout=float(config.get("WEBHOOK_TIMEOUT", Settings.timeout)),
        retry_base=float(config.get("WEBHOOK_RETRY_BASE", Settings.retry_base)),
        max_attempts=int(config.get("WEBHOOK_MAX_ATTEMPTS", Settings.max_attempts)),
        disable_after=float(config.get("WEBHOOK_DISABLE_AFTER", Settings.disable_after)),
        catchup_days=int(config.get("WEBHOOK_CATCHUP_DAYS", Settings.catchup_days)),
    )
