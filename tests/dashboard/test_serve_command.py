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


def test_serve_stops_its_ticker_when_it_stops(runner, monkeypatch):
    """Without Redis, `flask serve` runs the webhook ticker in a thread; once the server
    returns, no tick may run on (a test's leftover ticker swept another test's data)."""
    import threading

    from attendance import cli

    monkeypatch.setattr(cli, "run_simple", lambda *args, **kwargs: None)
    result = runner.invoke(args=["serve", "--port", "5123"])
    assert result.exit_code == 0, result.output
    assert not [t for t in threading.enumerate() if t.name == "webhook-ticker"]
