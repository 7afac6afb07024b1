"""The report as CSV: exactly the buckets and totals of the report document."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from typing import Any

from ..models import School
from .params import Range

COLUMNS = (
    "period",
    "start",
    "end",
    "school_day",
    "counted_days",
    "enrolled",
    "present",
    "absent",
    "rate_percent",
)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _rate(present: int | None, absent: int | None) -> str:
    if present is None or absent is None or present + absent == 0:
        return ""
    return f"{100 * present / (present + absent):.1f}"


def report_csv(result: Mapping[str, Any], rng: Range) -> str:
    """One row per bucket, then one for the whole range (`period` = total)."""
    granularity = rng.granularity
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    enrolled = result["enrolled"]
    for b in result["buckets"]:
        start = b["date"] if granularity == "day" else b["start"]
        end = b["date"] if granularity == "day" else b["end"]
        row = (
            granularity,
            start,
            end,
            b.get("school_day"),
            b.get("counted_days"),
            enrolled,
            b["present"],
            b["absent"],
        )
        writer.writerow([_cell(v) for v in row] + [_rate(b["present"], b["absent"])])
    total = ("total", rng.start.isoformat(), rng.end.isoformat(), None, None, enrolled)
    writer.writerow(
        [_cell(v) for v in total]
        + [_cell(result["presences"]), _cell(result["absences"])]
        + [_rate(result["presences"], result["absences"])]
    )
    return out.getvalue()


def filename(school: School, rng: Range) -> str:
    """attendance-<school>-<from>-<to>-<granularity>.csv, safe in a header."""
    slug = re.sub(r"[^a-z0-9]+", "-", school.name.lower()).strip("-")[:40] or f"school-{school.id}"
    return f"attendance-{slug}-{rng.start}-{rng.end}-{rng.granularity}.csv"
