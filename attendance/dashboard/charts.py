"""Chart builders: pure functions from report figures to Plotly figures.

They take plain values (bucket dicts of the report document, counts, dates) and never
decide who is present: every figure they draw comes from the report pipeline.
Readable without colour: every trace is named, bars carry their numbers, and absence and
fever are also told apart by a hatch pattern or a marker shape.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import plotly.graph_objects as go

PRESENT = "#2563eb"
ABSENT = "#c2570c"
OFF = "#9aa5b1"
FEVER = "#b42318"
NORMAL = "#5b8def"
INK = "#1f2933"
GRID = "#e4e7eb"
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _threshold_line(threshold: Any) -> dict[str, Any]:
    """The fever threshold's dashed line and label, on either axis."""
    return {
        "line": {"color": FEVER, "dash": "dash", "width": 2},
        "annotation": {"text": f"Fever threshold {threshold} °C", "font": {"color": FEVER}},
        "annotation_position": "top left",
    }


def _hatch(shape: str, colour: str) -> dict[str, Any]:
    """A hatch pattern drawn over the bar's own colour (so both cues remain)."""
    return {"shape": shape, "fgcolor": colour, "fillmode": "overlay", "size": 7, "solidity": 0.25}


def empty_figure(title: str, **layout: Any) -> go.Figure:
    """An empty figure in the dashboard's look (no template: the JSON stays small).

    The title goes into `meta` only: the page's caption names the chart.
    """
    fig = go.Figure()
    layout = {"height": 340, **layout}
    fig.update_layout(
        template="none",
        meta={"title": title},
        font={"family": "system-ui, sans-serif", "size": 12, "color": INK},
        margin={"l": 48, "r": 16, "t": 40, "b": 48},
        autosize=True,
        paper_bgcolor="white",
        plot_bgcolor="white",
        legend={"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom", "xanchor": "left"},
        hoverlabel={"namelength": -1},
        **layout,
    )
    fig.update_xaxes(showgrid=False, linecolor=OFF, automargin=True)
    fig.update_yaxes(gridcolor=GRID, zeroline=False, automargin=True)
    return fig


def bucket_label(bucket: Mapping[str, Any], granularity: str) -> str:
    """A short, unambiguous label of a report bucket: a date, a week or a month."""
    if granularity == "day":
        day = dt.date.fromisoformat(bucket["date"])
        return f"{WEEKDAYS[day.weekday()]} {day.day} {day:%b}"
    start, end = dt.date.fromisoformat(bucket["start"]), dt.date.fromisoformat(bucket["end"])
    if granularity == "month":
        whole = start.day == 1 and (end + dt.timedelta(days=1)).day == 1
        return f"{start:%b %Y}" if whole else f"{start.day}–{end.day} {start:%b %Y}"
    if start.month == end.month:
        return f"{start.day}–{end.day} {end:%b}" if start != end else f"{start.day} {start:%b}"
    return f"{start.day} {start:%b} – {end.day} {end:%b}"


def _is_off(bucket: Mapping[str, Any], granularity: str) -> bool:
    """A day bucket that is not a school day, or a period with no counted days."""
    if granularity == "day":
        return bucket.get("school_day") is False
    return not bucket.get("counted_days")


def presence_bars(buckets: Sequence[Mapping[str, Any]], granularity: str) -> go.Figure:
    """Present and absent per bucket, stacked; days off are grey and named as such."""
    labels = [bucket_label(b, granularity) for b in buckets]
    off = [_is_off(b, granularity) for b in buckets]
    present = [b["present"] for b in buckets]
    # On a day off everybody not there is absent by the rules; drawn apart as "no school",
    # so nobody reads a Sunday as truancy.
    absent = [None if o else b["absent"] for b, o in zip(buckets, off, strict=True)]
    closed = [b["absent"] if o else None for b, o in zip(buckets, off, strict=True)]
    fig = empty_figure("Present and absent", barmode="stack", bargap=0.25)
    fig.add_bar(
        name="Present",
        x=labels,
        y=present,
        marker={"color": PRESENT},
        text=present,
        textposition="inside",
        textangle=0,  # a number that does not fit level is hidden (uniformtext), not turned
        hovertemplate="%{x}<br>Present: %{y}<extra></extra>",
    )
    fig.add_bar(
        name="Absent",
        x=labels,
        y=absent,
        marker={"color": ABSENT, "pattern": _hatch("/", "white")},
        text=absent,
        textposition="inside",
        textangle=0,
        hovertemplate="%{x}<br>Absent: %{y}<extra></extra>",
    )
    if any(c is not None for c in closed):
        fig.add_bar(
            name="No school (not counted)",
            x=labels,
            y=closed,
            marker={"color": "#eef0f3", "pattern": _hatch("x", OFF)},
            hovertemplate="%{x}<br>Not a school day<extra></extra>",
        )
    fig.update_layout(uniformtext={"minsize": 9, "mode": "hide"})
    largest = max((b["present"] or 0) + (b["absent"] or 0) for b in buckets) if buckets else 0
    counts_axis(fig, "Users", largest)
    fig.update_xaxes(type="category")
    return fig


def rates(buckets: Sequence[Mapping[str, Any]], granularity: str) -> list[float | None]:
    """Percentage present per bucket; None where there is no figure or no school."""
    out: list[float | None] = []
    for b in buckets:
        present, absent = b.get("present"), b.get("absent")
        if _is_off(b, granularity) or present is None or absent is None or present + absent == 0:
            out.append(None)
        else:
            out.append(round(100 * present / (present + absent), 1))
    return out


def rate_line(
    buckets: Sequence[Mapping[str, Any]], granularity: str, period_ratio: Decimal | float
) -> go.Figure:
    """Attendance rate per bucket, with the school's period ratio drawn as a line."""
    labels = [bucket_label(b, granularity) for b in buckets]
    values = rates(buckets, granularity)
    threshold = float(Decimal(str(period_ratio)) * 100)
    fig = empty_figure("Attendance rate")
    fig.add_scatter(
        name="Attendance rate",
        x=labels,
        y=values,
        mode="lines+markers+text" if len(labels) <= 14 else "lines+markers",
        text=[None if v is None else f"{v:g}%" for v in values],
        textposition="top center",
        line={"color": PRESENT, "width": 2},
        marker={"size": 7},
        connectgaps=False,
        hovertemplate="%{x}<br>%{y}% present<extra></extra>",
    )
    _level_line(fig, labels, threshold, f"{threshold:g}% threshold")
    fig.update_yaxes(title_text="% present", range=[0, 105], ticksuffix="%")
    fig.update_xaxes(type="category")
    return fig


def _level_line(fig: go.Figure, labels: Sequence[str], level: float, name: str) -> None:
    """A dashed line across a category axis, named in the legend (a threshold to compare with)."""
    fig.add_scatter(
        name=name,
        x=list(labels),
        y=[level] * len(labels),
        mode="lines",
        line={"color": ABSENT, "dash": "dash", "width": 2},
        hoverinfo="skip",
    )


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def arrival_histogram(minutes: Iterable[int], slot: int = 15) -> go.Figure:
    """How many first check-ins fall in each `slot`-minute span of the local day."""
    counts: dict[int, int] = {}
    for m in minutes:
        start = m - m % slot
        counts[start] = counts.get(start, 0) + 1
    fig = empty_figure("Arrival times (first check-in, school time)")
    if counts:
        slots = list(range(min(counts), max(counts) + slot, slot))
        ys = [counts.get(s, 0) for s in slots]
        fig.add_bar(
            name="Arrivals",
            x=[_clock(s) for s in slots],
            y=ys,
            text=[y or None for y in ys],
            textposition="outside",
            marker={"color": PRESENT},
            customdata=[_clock(s + slot) for s in slots],
            hovertemplate="%{x}–%{customdata}<br>%{y} arrivals<extra></extra>",
        )
    else:
        no_data(fig)
    fig.update_layout(showlegend=False, uniformtext={"minsize": 9, "mode": "hide"})
    fig.update_xaxes(type="category", title_text=f"Arrived in the {slot} minutes from")
    counts_axis(fig, "Check-ins", max(counts.values(), default=0))
    return fig


def temperature_histogram(
    counts: Iterable[tuple[Decimal, int]], threshold: Decimal, step: Decimal = Decimal("0.1")
) -> go.Figure:
    """Readings per `step` °C bin; bins at or above the fever threshold stand out."""
    bins: dict[Decimal, int] = {}
    for temperature, n in counts:
        low = (temperature / step).to_integral_value(rounding="ROUND_FLOOR") * step
        bins[low] = bins.get(low, 0) + n
    fig = empty_figure("Temperatures")
    if bins:
        for name, keep, colour, pattern in (
            ("Normal", lambda t: t + step <= threshold, NORMAL, ""),
            (f"Fever (≥ {threshold} °C)", lambda t: t + step > threshold, FEVER, "x"),
        ):
            xs = sorted(t for t in bins if keep(t))
            if not xs:
                continue
            fever = name != "Normal"
            fig.add_bar(
                name=name,
                x=[float(t + step / 2) for t in xs],
                y=[bins[t] for t in xs],
                # Fevers are few beside hundreds of normal readings: their counts are printed.
                text=[bins[t] for t in xs] if fever else None,
                textposition="outside",
                width=float(step) * 0.9,
                customdata=[f"{t}–{t + step}" for t in xs],
                marker={"color": colour, "pattern": _hatch(pattern, "white")},
                hovertemplate="%{customdata} °C<br>%{y} readings<extra></extra>",
            )
        fig.add_vline(x=float(threshold), **_threshold_line(threshold))
    else:
        no_data(fig)
    fig.update_xaxes(title_text="°C", tickformat=".1f")
    counts_axis(fig, "Readings", max(bins.values(), default=0))
    return fig


def daily_hours(days: Sequence[tuple[dt.date, float]], min_daily_hours: Decimal) -> go.Figure:
    """Hours in school per day, with the daily minimum drawn."""
    fig = empty_figure("Time in school per day")
    if not days:
        no_data(fig)
        return fig
    labels = [f"{WEEKDAYS[d.weekday()]} {d.day} {d:%b}" for d, _ in days]
    hours = [round(h, 2) for _, h in days]
    fig.add_bar(
        name="Hours",
        x=labels,
        y=hours,
        text=[f"{h:.1f} h" for h in hours],
        textposition="outside",
        marker={"color": PRESENT},
        hovertemplate="%{x}<br>%{y:.2f} h<extra></extra>",
    )
    needed = float(min_daily_hours)
    _level_line(fig, labels, needed, f"More than {needed:g} h: present")
    fig.update_layout(uniformtext={"minsize": 9, "mode": "hide"})
    fig.update_xaxes(type="category")
    fig.update_yaxes(title_text="Hours", rangemode="tozero")
    return fig


def temperature_timeline(
    readings: Sequence[tuple[dt.datetime, Decimal]], threshold: Decimal
) -> go.Figure:
    """Each reading over time (school-local); fevers are red triangles above a dashed line."""
    fig = empty_figure("Temperatures")
    if not readings:
        no_data(fig)
        return fig
    for name, keep, colour, symbol in (
        ("Reading", lambda t: t < threshold, NORMAL, "circle"),
        (f"Fever (≥ {threshold} °C)", lambda t: t >= threshold, FEVER, "triangle-up"),
    ):
        points = [(when, t) for when, t in readings if keep(t)]
        if points:
            fig.add_scatter(
                name=name,
                x=[when.strftime("%Y-%m-%d %H:%M") for when, _ in points],
                y=[float(t) for _, t in points],
                mode="markers",
                marker={"color": colour, "symbol": symbol, "size": 9},
                hovertemplate="%{x}<br>%{y:.1f} °C<extra></extra>",
            )
    fig.add_hline(y=float(threshold), **_threshold_line(threshold))
    values = [float(t) for _, t in readings] + [float(threshold)]
    fig.update_yaxes(
        title_text="°C", range=[min(35.5, min(values) - 0.3), max(39, max(values) + 0.3)]
    )
    if len({when for when, _ in readings}) == 1:
        # One instant alone gives Plotly no scale: show the day around it.
        when = readings[0][0]
        fig.update_xaxes(
            range=[
                f"{when - dt.timedelta(hours=12):%Y-%m-%d %H:%M}",
                f"{when + dt.timedelta(hours=12):%Y-%m-%d %H:%M}",
            ]
        )
    return fig


def counts_axis(fig: go.Figure, title: str, largest: int) -> None:
    """A y axis of whole numbers (no 0.2 of a reading when counts are small)."""
    fig.update_yaxes(title_text=title, rangemode="tozero", tickformat="d")
    if largest < 8:
        fig.update_yaxes(dtick=1)


def no_data(fig: go.Figure) -> None:
    fig.add_annotation(
        text="No data in this range",
        showarrow=False,
        xref="paper",
        yref="paper",
        x=0.5,
        y=0.5,
        font={"size": 14, "color": OFF},
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
