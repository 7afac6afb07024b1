"""Browser tests: a real server on the test database, driven through Debian's Chromium.

The server is the test app served by werkzeug in a thread. Chromium is the system's
(`playwright install` cannot download browsers here, and CI installs Debian's package).
Without Chromium the tests skip, except under CI=true, where they fail.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from tests.conftest import IN_CI

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="session")
def chromium() -> str:
    """The Chromium executable, or a skip (a failure under CI=true)."""
    if not os.access(CHROMIUM, os.X_OK):
        message = f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return CHROMIUM


@pytest.fixture(scope="session")
def browser(chromium: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture(scope="session")
def live_server(app: Flask) -> Iterator[str]:
    """The app on a free local port, in a thread."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)
    server.server_close()


class Page:
    """A browser tab on the live server that records console errors and failed requests."""

    def __init__(self, context: Any, base: str) -> None:
        self.context = context
        self.base = base
        self.tab = context.new_page()
        self.errors: list[str] = []
        self.tab.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))
        self.tab.on(
            "console",
            lambda msg: self.errors.append(f"console: {msg.text}") if msg.type == "error" else None,
        )

    def goto(self, path: str) -> Any:
        return self.tab.goto(self.base + path)

    def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.tab.screenshot(path=str(path), full_page=True)
        return path

    def charts_drawn(self, *ids: str) -> None:
        """Wait until Plotly has drawn these charts."""
        for chart in ids:
            self.tab.wait_for_selector(f"#{chart}[data-rendered='true'] .main-svg")


@pytest.fixture
def open_page(browser: Any, live_server: str) -> Iterator[Any]:
    """`open_page(viewport)`: a fresh browser context (no cookies) and a tab in it."""
    pages: list[Page] = []

    def make(viewport: dict[str, int] | None = None) -> Page:
        context = browser.new_context(viewport=viewport or DESKTOP, accept_downloads=True)
        # Pages compute their reports in the request (the tests run jobs inline), and the
        # machine may be busy (CI, parallel runs): waits are generous, never assertions.
        context.set_default_timeout(60000)
        page = Page(context, live_server)
        pages.append(page)
        return page

    yield make
    errors = [e for p in pages for e in p.errors]
    for p in pages:
        p.context.close()
    assert errors == [], "the browser reported errors"
