"""The dashboard's door to the report pipeline (attendance.services.reports)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from types import ModuleType
from typing import Any
from zoneinfo import ZoneInfo

from ..extensions import db
from ..models import School, utcnow

FINISHED, FAILED = "finished", "failed"
PIN_MAX_AGE = dt.timedelta(minutes=5)


def _service() -> ModuleType:
    from ..services import reports  # type: ignore[attr-defined]  # lands with the pipeline

    return reports


def school_today(school: School) -> dt.date:
    """The school-local date of now."""
    return utcnow().astimezone(ZoneInfo(school.timezone)).date()


def report_for(
    school: School,
    start: dt.date,
    end: dt.date,
    granularity: str,
    pinned: Iterable[Any] = (),
) -> Any:
    """A report of the school for start..end: a pinned one that matches, else the pipeline's.

    The page that polled a report until it finished names it (pins it) when it fetches
    itself again, so it shows that report rather than asking for another. A pin is only
    honoured for a few minutes: an old link must not show old figures.
    """
    wanted = (school.id, start, end, granularity)
    for record in pinned:
        if (
            (record.school_id, record.start, record.end, record.granularity) == wanted
            and record.status in (FINISHED, FAILED)
            and _fresh(record)
        ):
            return record
    return _service().request_report(school.id, start, end, granularity)


def _fresh(record: Any) -> bool:
    done = getattr(record, "generated_at", None)
    return done is None or utcnow() - done <= PIN_MAX_AGE


def load(report_ids: Iterable[str]) -> list[Any]:
    """The report records with these ids (unknown ids are skipped)."""
    model = _service().ReportRecord
    records = []
    for report_id in report_ids:
        try:
            uuid.UUID(report_id)
        except ValueError:
            continue  # not an id: never let it reach a typed column
        record = db.session.get(model, report_id)
        if record is not None:
            records.append(record)
    return records


def progress(record: Any) -> dict[str, Any]:
    """What the progress bar needs to know."""
    return {
        "id": str(record.id),
        "status": record.status,
        "done": record.chunks_done or 0,
        "total": record.chunks_total or 0,
        "error": record.error if record.status == FAILED else None,
    }
