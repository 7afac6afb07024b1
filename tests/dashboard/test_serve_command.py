"""`flask serve`, where `make run` ends."""

from __future__ import annotations


def test_serve_really_serves(runner, monkeypatch):
    """`make run` ends in `flask serve`: it must serve (app.run returns at once under `flask`)."""
    from attendance import cli

    calls = []
    monkeypatch.setattr(cli, "run_simple", lambda *args, **kwargs: calls.append((args, kwargs)))
    result = runner.invoke(args=["serve", "--port", "5123"])
    assert result.exit_code == 0, result.output
    assert "http://127.0.0.1:5123/dashboard/" in result.output
    assert calls and calls[0][0][:2] == ("127.0.0.1", 5123)
