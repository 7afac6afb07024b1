"""Signals the services send, for whoever observes them (the metrics, for now)."""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

# Sent with `count=` when new attendance events are stored (not for a retried key).
attendances_recorded = _signals.signal("attendances-recorded")

# Sent with `hits=` (past dates taken from the day cache) and `misses=` (dates queued for
# computing) when a report's chunks are made.
report_planned = _signals.signal("report-planned")
