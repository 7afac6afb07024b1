"""Helpers the dashboard's pages share: reports pinned by the page, ranges, sorting."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any

from flask import request
from sqlalchemy import select

from ..extensions import db
from ..models import Report, School, User
from . import page_url, pipeline
from .params import Range, parse_range


def pinned() -> list[Report]:
    """Reports the page names in `?reports=` (set by the page itself after polling)."""
    ids = [i for i in request.args.get("reports", "").split(",") if i][:200]
    return pipeline.load(ids)


def pending(records: Iterable[Report]) -> list[str]:
    """Ids of the reports still being computed."""
    return [r.id for r in records if r.status not in (pipeline.FINISHED, pipeline.FAILED)]


def refresh_url(records: Iterable[Report]) -> str:
    """This page, pinned to its reports: what the progress script fetches once they finish."""
    return page_url({**request.args.to_dict(), "reports": ",".join(r.id for r in records)})


def progress_context(records: list[Report]) -> dict[str, Any]:
    """What `_progress.html` needs: the reports pending, their progress, where to refetch."""
    waiting = pending(records)
    parts = [pipeline.progress(r) for r in records if r.id in waiting]
    return {
        "pending": waiting,
        "refresh_url": refresh_url(records),
        "progress_done": sum(p["done"] for p in parts),
        "progress_total": sum(p["total"] for p in parts),
    }


def school_range(school: School) -> tuple[dt.date, Range, list[str]]:
    """The school's today, the range the query asks for, and notes about repairs to it."""
    today = pipeline.school_today(school)
    rng, notes = parse_range(request.args, today)
    return today, rng, notes


def school_group(school: School) -> tuple[list[str], str | None]:
    """The school's groups (distinct groups of its users) and the one `?group=` picks
    (None for all, or for a group the school does not have)."""
    groups = [
        group
        for group in db.session.scalars(
            select(User.group)
            .where(User.school_id == school.id, User.group.is_not(None), User.group != "")
            .distinct()
            .order_by(User.group)
        )
        if group  # never None here: narrows the type
    ]
    wanted = request.args.get("group", "")
    return groups, wanted if wanted in groups else None


def sort_rows(
    rows: list[Any], key: str, descending: bool, value: Callable[[Any, str], Any]
) -> list[Any]:
    """Sort by one column; rows without a figure come last either way."""
    known = [r for r in rows if value(r, key) is not None]
    unknown = [r for r in rows if value(r, key) is None]
    return sorted(known, key=lambda r: value(r, key), reverse=descending) + unknown
