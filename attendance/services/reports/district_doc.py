"""The district report's document: one row per school and the district's totals.

Each school's figures are `presence.combine`'s over that school's dates (as its own report
would have them); the district's totals and buckets are the sums of the schools' (a pupil
who moved between schools in the range is counted at each school). Nothing is decided
here: the rules are presence's, these functions only add up.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

import marshmallow as ma
from marshmallow import fields

from ... import presence
from ...models import REPORT_FAILED, REPORT_FINISHED, Report
from .reading import BucketSchema, ProgressSchema, UTCSecond, progress


class DistrictSchoolSchema(ma.Schema):
    """One school's figures over the range (its own aggregate's `enrolled`, `presences`,
    `absences` and `chronic`)."""

    school_id = fields.Integer()
    name = fields.String()
    enrolled = fields.Integer(allow_none=True)
    presences = fields.Integer(allow_none=True)
    absences = fields.Integer(allow_none=True)
    chronic = fields.Integer()


class DistrictFiguresSchema(ma.Schema):
    """The district's figures: its totals, their buckets, and a row per school."""

    class Meta:
        unknown = ma.EXCLUDE

    from_ = fields.Date(data_key="from", attribute="start")
    to = fields.Date(attribute="end")
    granularity = fields.String()
    enrolled = fields.Integer(allow_none=True)
    presences = fields.Integer(allow_none=True)
    absences = fields.Integer(allow_none=True)
    chronic = fields.Integer()
    buckets = fields.List(fields.Nested(BucketSchema))
    schools = fields.List(fields.Nested(DistrictSchoolSchema))


class DistrictReportSchema(DistrictFiguresSchema):
    """The district report document: the figures once finished, else the progress (and
    the error once failed)."""

    report_id = fields.String(required=True)
    status = fields.String(
        required=True, metadata={"enum": ["queued", "running", "finished", "failed"]}
    )
    generated_at = UTCSecond(metadata={"description": "The instant the figures are as of"})
    progress = fields.Nested(ProgressSchema)
    error = fields.String()


def _total(values: Iterable[int | None]) -> int | None:
    """The sum of the figures there are; None when no school has one."""
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def district_buckets(
    per_school: Sequence[tuple[presence.Rules, presence.Report]], today_of: Sequence[dt.date]
) -> list[presence.Bucket]:
    """The district's buckets: each school's bucket summed. A day is a school day when it
    is one at some school; a week's or month's counted days are the dates counted at some
    school."""
    if not per_school:
        return []
    first_report = per_school[0][1]
    buckets = []
    for i, bucket in enumerate(first_report.buckets):
        mine = [report.buckets[i] for _rules, report in per_school]
        present, absent = _total(b.present for b in mine), _total(b.absent for b in mine)
        enrolled = _total(b.enrolled for b in mine)
        if bucket.school_day is not None:
            buckets.append(
                presence.Bucket(
                    bucket.start,
                    bucket.end,
                    any(bool(b.school_day) for b in mine),
                    None,
                    present,
                    absent,
                    enrolled,
                    _total(b.excused for b in mine),
                    _total(b.late for b in mine),
                )
            )
            continue
        counted: set[dt.date] = set()
        for (rules, _report), today in zip(per_school, today_of, strict=True):
            counted.update(presence.counted_days(bucket.start, bucket.end, rules, today))
        buckets.append(
            presence.Bucket(bucket.start, bucket.end, None, len(counted), present, absent, enrolled)
        )
    return buckets


def district_document(
    start: dt.date,
    end: dt.date,
    granularity: str,
    schools: Sequence[tuple[int, str, presence.Rules, dt.date, presence.Report]],
) -> dict[str, Any]:
    """What a finished district report's row stores: (school id, name, rules, that school's
    today, its combined figures) of each school, summed."""
    rows: list[dict[str, Any]] = [
        {
            "school_id": school_id,
            "name": name,
            "enrolled": report.counted_users,
            "presences": report.presences,
            "absences": report.absences,
            "chronic": report.chronic,
        }
        for school_id, name, _rules, _today, report in schools
    ]
    buckets = district_buckets(
        [(rules, report) for _id, _name, rules, _today, report in schools],
        [today for _id, _name, _rules, today, _report in schools],
    )
    figures = {
        "start": start,
        "end": end,
        "granularity": granularity,
        "enrolled": _total(r["enrolled"] for r in rows),
        "presences": _total(r["presences"] for r in rows),
        "absences": _total(r["absences"] for r in rows),
        "chronic": sum(r["chronic"] for r in rows),
        "buckets": buckets,
        "schools": rows,
    }
    return dict(DistrictFiguresSchema().dump(figures))


def district_answer(report: Report) -> dict[str, Any]:
    """What `DistrictReportSchema` dumps for a district report: its figures once finished;
    else its status and progress, and its error once failed."""
    answer: dict[str, Any] = {"report_id": report.id, "status": report.status}
    if report.status == REPORT_FINISHED and report.result is not None:
        loaded = DistrictFiguresSchema().load(report.result)
        answer.update(loaded)
        answer["generated_at"] = report.now.astimezone(dt.UTC)
        return answer
    answer["progress"] = progress(report)
    if report.status == REPORT_FAILED:
        answer["error"] = report.error
    return answer
