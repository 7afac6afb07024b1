"""The district range view's chart, as a pure function returning a Plotly figure."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go

from .charts import PRESENT, empty_figure, no_data


def district_rates(buckets: Sequence[Mapping[str, Any]]) -> list[tuple[dt.date, float | None]]:
    """Each day's present / enrolled of the district in percent, one decimal; None on a day
    that is no school day at any school, or without a figure."""
    found: list[tuple[dt.date, float | None]] = []
    for bucket in buckets:
        if "date" not in bucket:
            continue
        present, enrolled = bucket.get("present"), bucket.get("enrolled")
        rate = None
        if bucket.get("school_day") and present is not None and enrolled:
            rate = round(100 * present / enrolled, 1)
        found.append((dt.date.fromisoformat(str(bucket["date"])), rate))
    return found


def district_rate_line(buckets: Sequence[Mapping[str, Any]]) -> go.Figure:
    """The district's attendance rate per day (gaps on days without school anywhere)."""
    rates = district_rates(buckets)
    fig = empty_figure("District attendance rate per day")
    labels = [day.strftime("%a %d %b") for day, _rate in rates]
    values = [rate for _day, rate in rates]
    fig.add_scatter(
        name="District attendance rate",
        x=labels,
        y=values,
        mode="lines+markers",
        line={"color": PRESENT, "width": 2},
        marker={"size": 7},
        connectgaps=False,
        hovertemplate="%{x}<br>%{y}% present<extra></extra>",
    )
    fig.update_yaxes(title_text="% present", range=[0, 105], ticksuffix="%")
    fig.update_xaxes(type="category")
    if all(v is None for v in values):
        no_data(fig)
    return fig
