"""/api/docs in Chromium: Swagger UI lists the operations, under the CSP, from our origin only."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser


def test_swagger_ui_lists_the_operations(open_page, live_server):
    page = open_page()
    requested: list[str] = []
    page.tab.on("request", lambda request: requested.append(request.url))
    violations: list[str] = []
    page.tab.on(
        "console",
        lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    response = page.goto("/api/docs")
    assert response.status == 200
    page.tab.wait_for_selector(".opblock-summary-path", timeout=15000)
    paths = page.tab.locator(".opblock-summary-path").all_inner_texts()
    assert any(p.replace("\u200b", "") == "/api/attendances" for p in paths), paths
    assert len(paths) >= 10
    assert page.tab.locator(".btn.authorize").count() == 1  # the bearer token goes in here
    assert violations == []
    assert requested and all(url.startswith(live_server + "/") for url in requested), requested
    # open_page fails the test on any console error or page error as well.
