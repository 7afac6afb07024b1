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
