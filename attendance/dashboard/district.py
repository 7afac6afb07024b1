"""The overview's range view: the district report (every school over a range), its rate
per day and a table of schools, sorted by links (no script needed)."""

from __future__ import annotations

from typing import Any

from flask import abort, render_template, request

from ..security.roles import DISTRICT
from ..services.district import all_schools
from ..services.reports.district import district_today
from ..services.reports.requesting import now_for_report
from . import bp, pipeline
from .auth import current_admin, login_required
from .common import pinned, progress_context, sort_rows
from .district_charts import district_rate_line
from .figures import percent
from .params import Range, parse_range, parse_sort, presets

RANGE_SORTS = ("name", "enrolled", "presences", "absences", "rate", "chronic")


@bp.get("/range")
@login_required
def district_range() -> Any:
    """Every school over a range (district admins): the district's rate per day and a
    sortable table of the schools' figures, from one district report."""
    admin = current_admin()
    if admin is None or admin.role != DISTRICT:
        abort(403)
    today = district_today(now_for_report(), all_schools())  # the reports' today
    rng, notes = parse_range(request.args, today)
    rng = Range(rng.start, rng.end, "day")  # the chart is per day
    [record] = pipeline.settle(
        [pipeline.district_report(rng.start, rng.end, rng.granularity, pinned())]
    )
    context: dict[str, Any] = {
        "today": today,
        "rng": rng,
        "notes": notes,
        "presets": presets(today, "day"),
        "groups": [],
        "group": None,
        "show_granularity": False,
        "report": record,
        "reports": [record],
        **progress_context([record]),
    }
    sort = parse_sort(request.args, RANGE_SORTS, "name")
    context["sort"] = sort
    if record.status == pipeline.FINISHED and record.result is not None:
        result = record.result
        rows = [
            {**row, "rate": percent(row["presences"], row["enrolled"])} for row in result["schools"]
        ]
        context.update(
            result=result,
            rate=percent(result["presences"], result["enrolled"]),
            rows=sort_rows(rows, sort.key, sort.descending, _value),
            rate_chart=district_rate_line(result["buckets"]),
        )
    return render_template("dashboard/district_range.html", **context)


def _value(row: dict[str, Any], key: str) -> Any:
    if key == "name":
        return row["name"].casefold()
    return row[key]
