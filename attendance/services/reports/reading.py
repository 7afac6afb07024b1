"""What readers get of a report: its document, its progress, its dates' per-user results.

The document's shape is defined here once, as marshmallow schemas: `FiguresSchema` writes
a finished report's figures onto its row (`finished_document`), and `ReportSchema`, the
same fields and the report's state, is what the API answers (and documents in OpenAPI).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, NamedTuple

import marshmallow as ma
from marshmallow import fields
from sqlalchemy import func, select

from ... import presence
from ...extensions import db
from ...models import CHUNK_DONE, REPORT_FAILED, REPORT_FINISHED, Report, ReportChunk
from .encoding import columns, decode

_DAY_ONLY = ("date", "school_day", "excused", "late")
_PERIOD_ONLY = ("start", "end", "counted_days")


class UTCSecond(fields.Field):
    """An instant written as RFC 3339 in UTC to the second (`2026-11-30T10:00:00Z`).

    Not a DateTime with a custom format: apispec documents those with a null format, which
    is no valid OpenAPI."""

    def __init__(self, **kwargs: Any) -> None:
        metadata = {"type": "string", "format": "date-time", **kwargs.pop("metadata", {})}
        super().__init__(metadata=metadata, **kwargs)

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class BucketSchema(ma.Schema):
    """One bucket: a day (`date`, `school_day`, `excused`, `late`) or a week or month
    (`start`, `end`, `counted_days`), with its figures (null without a counted day;
    `late` null without the school's late_after)."""

    date = fields.Date(attribute="start", dump_only=True)
    school_day = fields.Boolean()
    start = fields.Date()
    end = fields.Date()
    counted_days = fields.Integer()
    enrolled = fields.Integer(allow_none=True)
    present = fields.Integer(allow_none=True)
    absent = fields.Integer(allow_none=True)
    excused = fields.Integer(allow_none=True)
    late = fields.Integer(allow_none=True)

    @ma.post_dump(pass_original=True)
    def _shape(self, data: dict[str, Any], bucket: presence.Bucket, **_: Any) -> dict[str, Any]:
        unused = _PERIOD_ONLY if bucket.school_day is not None else _DAY_ONLY
        return {k: v for k, v in data.items() if k not in unused}

    @ma.pre_load
    def _day(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        if "date" not in data:
            return data
        day = {k: v for k, v in data.items() if k != "date"}
        return {**day, "start": data["date"], "end": data["date"]}

    @ma.post_load
    def _bucket(self, data: dict[str, Any], **_: Any) -> presence.Bucket:
        return presence.Bucket(
            data["start"],
            data["end"],
            data.get("school_day"),
            data.get("counted_days"),
            data["present"],
            data["absent"],
            data.get("enrolled"),
            data.get("excused"),
            data.get("late"),
        )


class UserFiguresSchema(ma.Schema):
    """One user counted over the range (presence.md 8), with who they are now."""

    user_id = fields.Integer()
    name = fields.String()
    external_id = fields.String(allow_none=True)
    group = fields.String(allow_none=True)
    counted_days = fields.Integer()
    present_days = fields.Integer()
    absent_days = fields.Integer()
    excused_days = fields.Integer()
    late_days = fields.Integer(allow_none=True, metadata={"description": "null without late_after"})
    present = fields.Boolean(allow_none=True)
    chronic = fields.Boolean()
    absence_streak = fields.Integer()


class FiguresSchema(ma.Schema):
    """A report's figures, in docs/api.md's order (dumps a `presence.Report`)."""

    class Meta:
        unknown = ma.EXCLUDE  # the stored document also holds what the dashboard reads

    school_id = fields.Integer()
    from_ = fields.Date(data_key="from", attribute="start")
    to = fields.Date(attribute="end")
    granularity = fields.String()
    # The users counted over the range (presence.md 6), null when it has no counted day.
    enrolled = fields.Integer(attribute="counted_users", allow_none=True)
    presences = fields.Integer(allow_none=True)
    absences = fields.Integer(allow_none=True)
    chronic = fields.Integer()
    buckets = fields.List(fields.Nested(BucketSchema))
    users = fields.List(
        fields.Nested(UserFiguresSchema),
        metadata={"description": "With users=true: each user counted, by user_id"},
    )


class ProgressSchema(ma.Schema):
    done = fields.Integer()
    total = fields.Integer()


class ReportSchema(FiguresSchema):
    """The report document: the figures once finished, else the progress (and the error
    once failed)."""

    report_id = fields.String(required=True)
    status = fields.String(
        required=True, metadata={"enum": ["queued", "running", "finished", "failed"]}
    )
    generated_at = UTCSecond(metadata={"description": "The instant the figures are as of"})
    progress = fields.Nested(ProgressSchema)
    error = fields.String()


class UserInfo(NamedTuple):
    """Who a user is now, as the document's `users` show them."""

    name: str
    external_id: str | None
    group: str | None


_USER_FIGURES = (
    "counted_days",
    "present_days",
    "absent_days",
    "excused_days",
    "late_days",
    "present",
    "chronic",
    "absence_streak",
)


def finished_document(
    figures: presence.Report,
    stored: dict[dt.date, dict[str, list[Any]]],
    days: dict[dt.date, presence.DayFacts],
    today: dt.date,
    members: frozenset[int] | None = None,
    users: dict[int, UserInfo] | None = None,
) -> dict[str, Any]:
    """What a finished report's row stores: its figures (with `users`, who each counted
    user is, from `users`), and for the dashboard the per-user figures, each date's data
    quality and who is in school now; of the members only, when given (`&group=`)."""

    def mine(cols: dict[str, list[Any]], name: str) -> int:
        if members is None:
            return sum(cols[name])
        return sum(n for u, n in zip(cols["user_id"], cols[name], strict=True) if u in members)

    quality = [
        {
            "date": day.isoformat(),
            "orphan_checkouts": mine(cols, "orphan_checkouts"),
            "unclosed": mine(cols, "unclosed"),
        }
        for day, cols in sorted(stored.items())
    ]
    now = days.get(today)
    in_school_now = len(now.checked_in_now & now.enrolled) if now is not None else 0
    document = FiguresSchema().dump(figures)
    if users is not None:
        listed = []
        for uid, summary in sorted(figures.per_user.items()):
            if not summary.counted_days:
                continue  # presence.md 8: users with a counted day in the range
            info = users.get(uid, UserInfo("", None, None))
            figures_of = summary.to_dict(school_life=True)
            listed.append(
                {"user_id": uid, **info._asdict(), **{k: figures_of[k] for k in _USER_FIGURES}}
            )
        document["users"] = UserFiguresSchema(many=True).dump(listed)
    return {
        **document,
        "per_user": {str(uid): s.to_dict() for uid, s in figures.per_user.items()},
        "quality": quality,
        "in_school_now": in_school_now if figures.start <= today <= figures.end else None,
    }


def report_answer(report: Report) -> dict[str, Any]:
    """What `ReportSchema` dumps for a report (by attribute names): its stored figures once
    finished; else its status and progress, and its error once failed."""
    answer: dict[str, Any] = {
        "school_id": report.school_id,
        "report_id": report.id,
        "status": report.status,
    }
    if report.status == REPORT_FINISHED and report.result is not None:
        answer.update(FiguresSchema().load(report.result))
        answer["generated_at"] = report.now.astimezone(dt.UTC)
        return answer
    answer["progress"] = progress(report)
    if report.status == REPORT_FAILED:
        answer["error"] = report.error
    return answer


def progress(report: Report) -> dict[str, int]:
    """Chunks done out of the total (the total is 0 until the report is planned)."""
    done = db.session.scalar(
        select(func.count())
        .select_from(ReportChunk)
        .where(ReportChunk.report_id == report.id, ReportChunk.status == CHUNK_DONE)
    )
    return {"done": done or 0, "total": report.chunks_total}


def stored_results(report_id: str) -> dict[dt.date, dict[str, list[Any]]]:
    """Each date's stored per-user results of a report, by column (in one query)."""
    rows = db.session.execute(
        select(ReportChunk.day, ReportChunk.results).where(ReportChunk.report_id == report_id)
    )
    return {day: columns(results) for day, results in rows}


def day_results(report_id: str) -> dict[dt.date, dict[int, presence.DayResult]]:
    """The per-user results of each date of a report's chunks (in one query; no sessions)."""
    return {day: decode(day, cols) for day, cols in stored_results(report_id).items()}
