"""/api/docs: the interactive API page (Swagger UI), from our own files, under the page CSP."""

from __future__ import annotations

import re
from html.parser import HTMLParser


class Assets(HTMLParser):
    """The page's scripts (with or without src) and the URLs it loads."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline_scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        url = found.get("src") or (found.get("href") if tag == "link" else None)
        if url:
            self.urls.append(url)
        elif tag == "script":
            self.inline_scripts += 1
        for name, _ in attrs:
            assert not name.startswith("on"), f"inline handler {name} on <{tag}>"


def test_the_page_answers_without_a_token_and_loads_only_our_files(anonymous):
    page = anonymous.get("/api/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    assets = Assets()
    assets.feed(page.get_data(as_text=True))
    assert assets.inline_scripts == 0
    assert len(assets.urls) >= 4  # the stylesheet, an icon, the bundle, its initializer
    for url in assets.urls:
        assert url.startswith("/") and not url.startswith("//"), url  # same origin
        asset = anonymous.get(url)
        assert asset.status_code == 200, url
        asset.close()
    scripts = [u for u in assets.urls if u.endswith(".js")]
    assert any(u.endswith("/swagger-ui-bundle.js") for u in scripts)
    assert any(u.startswith("/static/") and "docs" in u for u in scripts)


def test_the_page_gets_the_page_policy_no_inline_script(anonymous):
    policy = anonymous.get("/api/docs").headers["Content-Security-Policy"]
    scripts = re.search(r"script-src ([^;]*)", policy)
    assert scripts and scripts.group(1).strip() == "'self'"  # no nonce, no unsafe-inline
    assert "connect-src 'self'" in policy and "frame-ancestors 'none'" in policy
    # The JSON API keeps its own, stricter policy.
    api = anonymous.get("/api/openapi.json").headers["Content-Security-Policy"]
    assert api.startswith("default-src 'none'")


def test_the_page_describes_the_published_document(anonymous):
    page = anonymous.get("/api/docs").get_data(as_text=True)
    assert 'data-spec-url="/api/openapi.json"' in page


def test_serve_names_the_page(runner, monkeypatch):
    from attendance import cli

    monkeypatch.setattr(cli, "run_simple", lambda *args, **kwargs: None)
    result = runner.invoke(args=["serve", "--port", "5123"])
    assert "http://127.0.0.1:5123/api/docs" in result.output
