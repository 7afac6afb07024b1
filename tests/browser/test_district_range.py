"""The overview's range view in Chromium: the district's rate per day and the table of
schools, sorted by clicking the headers; numbers checked against the district report."""

from __future__ import annotations

from typing import Any

import pytest

from .test_dashboard import api, log_in, world  # noqa: F401 - the module's data, reused

pytestmark = pytest.mark.browser


def table(page: Any) -> list[tuple[int, str, str]]:
    """(school id, enrolled, present) of each row of the schools table, in order."""
    rows = page.tab.locator("#range-table tbody tr")
    return [
        (
            int(rows.nth(i).get_attribute("data-school-id")),
            rows.nth(i).locator("[data-field='enrolled']").inner_text(),
            rows.nth(i).locator("[data-field='presences']").inner_text(),
        )
        for i in range(rows.count())
    ]


def test_range_view_chart_table_and_sorting(app, world, open_page):  # noqa: F811
    page = open_page()
    log_in(page, world.district)
    page.tab.click("#range-link")
    page.tab.wait_for_load_state()
    page.charts_drawn("chart-district-rate")
    start, end = page.tab.input_value("#from"), page.tab.input_value("#to")
    doc = api(app, world, f"/api/attendances/aggregate/district?from={start}&to={end}&wait=20")

    drawn = page.tab.evaluate(
        "() => Array.from(document.getElementById('chart-district-rate').data[0].y)"
    )
    expected = [
        round(100 * b["present"] / b["enrolled"], 1) if b["school_day"] and b["enrolled"] else None
        for b in doc["buckets"]
    ]
    assert drawn == expected
    by_id = {s["school_id"]: s for s in doc["schools"]}
    assert {r[0]: (r[1], r[2]) for r in table(page)} == {
        i: (str(s["enrolled"]), str(s["presences"])) for i, s in by_id.items()
    }
    names = [by_id[r[0]]["name"] for r in table(page)]
    assert names == sorted(names, key=str.casefold)
    page.screenshot("10-district-range")

    # Sorting is a link per header (no script): enrolled ascending, then descending.
    page.tab.click("#range-table thead a:has-text('Enrolled')")
    page.tab.wait_for_load_state()
    ascending = [int(r[1]) for r in table(page)]
    assert ascending == sorted(ascending)
    page.tab.click("#range-table thead a:has-text('Enrolled')")
    page.tab.wait_for_load_state()
    descending = [int(r[1]) for r in table(page)]
    assert descending == sorted(ascending, reverse=True)
    assert page.tab.locator("#range-table th[aria-sort='descending']").count() == 1
