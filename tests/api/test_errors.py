"""Error responses are clean JSON and never leak internals."""

from __future__ import annotations


def test_unknown_api_route_is_json_404(client):
    resp = client.get("/api/nothing-here")
    assert resp.status_code == 404
    assert resp.json == {"errors": {"detail": "Not Found"}}


def test_wrong_method_is_405_with_allow(client):
    resp = client.post("/api/schools/1")
    assert resp.status_code == 405
    assert "GET" in resp.headers["Allow"]
    assert resp.json == {"errors": {"detail": "Method Not Allowed"}}


def test_the_api_is_slash_api_and_what_lies_under_it(client):
    """`/api` itself answers as the API does; `/apis` is no part of it: an HTML page."""
    resp = client.get("/api")
    assert resp.status_code == 404
    assert resp.json == {"errors": {"detail": "Not Found"}}
    resp = client.get("/apis")
    assert resp.status_code == 404
    assert resp.mimetype == "text/html"
