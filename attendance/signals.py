"""Signals the services send, for whoever observes them (the metrics, for now)."""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

# Sent with `count=` when new attendance events are stored (not for a retried key).
attendances_recorded = _signals.signal("attendances-recorded")
