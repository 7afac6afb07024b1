"""Chart builders of school life: a pupil's calendar (marks, late days, forgotten
check-outs) and a school's late arrivals. Pure functions, like those of `charts`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go

from .charts import ABSENT, WEEKDAYS, bucket_label, counts_axis, empty_figure, no_data
from .figures import CalendarDay

# status: (colour band, letter, words). Letters tell the days apart without colour.
STATUS = {
    "present": (3, "P", "Present"),
    "excused": (2, "E", "Absent, excused"),
    "absent": (1, "A", "Absent"),
    "off": (0, "–", "No school"),
    "not_enrolled": (0, "–", "Not enrolled"),
    "future": (None, "", "Not yet"),
}
# The flags after the letter, and what the caption says of them.
MARKED, LATE, AUTO_CLOSED = "*", "L", "!"
CALENDAR_KEY = (
    "P present, A absent, E excused absence, – no school or not enrolled; "
    f"{MARKED} set by an admin's mark, {LATE} late, {AUTO_CLOSED} no check-out "
    "(closed at the end of the school day)"
)


def _hover(day: dt.date, cell: CalendarDay) -> str:
    """Everything the cell stands for, in words."""
    parts = [f"{day:%a %d %b %Y}: {STATUS[cell.status][2]}"]
    if cell.late:
        parts.append("arrived late")
    if cell.auto_closed:
        parts.append("no check-out: closed at the end of the school day")
    if cell.mark is not None:
        what = cell.mark.status + (", excused" if cell.mark.excused else "")
        parts.append(f"marked {what} by {cell.mark.by}: {cell.mark.reason}")
    return "<br>".join(parts)


def _flags(cell: CalendarDay) -> str:
    return (
        (MARKED if cell.mark is not None else "")
        + (LATE if cell.late else "")
        + (AUTO_CLOSED if cell.auto_closed else "")
    )


def calendar_heatmap(days: Mapping[dt.date, CalendarDay]) -> go.Figure:
    """A calendar: one column per week, one row per weekday; each cell says P, A, E or –,
    then * for a mark, L for a late arrival, ! for a check-out the school day closed."""
    fig = empty_figure("Calendar", height=320)
    if not days:
        no_data(fig)
        return fig
    first = min(days)
    monday = first - dt.timedelta(days=first.weekday())
    weeks = (max(days) - monday).days // 7 + 1
    z: list[list[int | None]] = [[None] * weeks for _ in WEEKDAYS]
    text: list[list[str]] = [[""] * weeks for _ in WEEKDAYS]
    hover: list[list[str]] = [[""] * weeks for _ in WEEKDAYS]
    for day, cell in days.items():
        code, letter, _word = STATUS[cell.status]
        col, row = (day - monday).days // 7, day.weekday()
        z[row][col] = code
        shown = letter + _flags(cell)
        text[row][col] = f"{day.day}<br>{shown}" if shown else str(day.day)
        hover[row][col] = _hover(day, cell)
    fig.add_heatmap(
        z=z,
        x=[f"{monday + dt.timedelta(weeks=w):%d %b}" for w in range(weeks)],
        y=list(WEEKDAYS),
        text=text,
        texttemplate="%{text}",
        customdata=hover,
        hovertemplate="%{customdata}<extra></extra>",
        zmin=0,
        zmax=3,
        colorscale=[
            [0, "#eef0f3"],
            [0.24, "#eef0f3"],
            [0.25, "#f6c89f"],
            [0.49, "#f6c89f"],
            [0.5, "#e3d5f5"],
            [0.74, "#e3d5f5"],
            [0.75, "#a9c4f5"],
            [1, "#a9c4f5"],
        ],
        showscale=False,
        xgap=3,
        ygap=3,
    )
    fig.update_yaxes(autorange="reversed", showgrid=False)
    fig.update_xaxes(side="top", title_text="Week of", type="category")
    fig.update_layout(margin={"l": 48, "r": 16, "t": 56, "b": 16})
    return fig


def late_arrivals(
    buckets: Sequence[Mapping[str, Any]], granularity: str, late: Sequence[int]
) -> go.Figure:
    """Late arrivals per bucket (a pupil late on a date counts once on that date)."""
    labels = [bucket_label(b, granularity) for b in buckets]
    fig = empty_figure("Late arrivals")
    if not any(late):
        no_data(fig)
        fig.layout.annotations[0].text = "No late arrival in this range"
        return fig
    fig.add_bar(
        name="Late arrivals",
        x=labels,
        y=list(late),
        text=[n or None for n in late],
        textposition="outside",
        marker={"color": ABSENT},
        hovertemplate="%{x}<br>%{y} late arrivals<extra></extra>",
    )
    fig.update_layout(showlegend=False, uniformtext={"minsize": 9, "mode": "hide"})
    fig.update_xaxes(type="category")
    counts_axis(fig, "Late arrivals", max(late, default=0))
    return fig
