"""Bodies the JSON parsers choke on, on every write route: 400 or 422, never a 500.

Deep nesting (RecursionError in the standard library's json), integers of over 4,300
digits (ValueError from int()) and lone surrogates (PostgreSQL cannot store them) were
500s on every route that takes a body. The routes are read from app.url_map, so a new one
is covered without anyone remembering to add it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from attendance.models import Closure

from . import nasty
from .test_matrix import MATRIX, url_for_rule

BODY_METHODS = {"POST", "PUT", "PATCH"}
BULK = "/api/attendances/bulk"


def write_routes(app) -> list[tuple[str, str]]:
    """Every API route and method that reads a body."""
    return sorted(
        (rule.rule, method)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/")
        for method in rule.methods & BODY_METHODS
    )


def _write_routes_of_a_fresh_app() -> list[tuple[str, str]]:
    from attendance import create_app

    return write_routes(create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "TESTING": True}))


ROUTES = _write_routes_of_a_fresh_app()


def test_the_routes_are_found(app):
    assert write_routes(app) == ROUTES
    assert ("/api/attendances/bulk", "POST") in ROUTES and len(ROUTES) >= 7


@pytest.fixture
def world(db, make_user) -> dict[str, Any]:
    user = make_user()
    closure = Closure(school_id=user.school_id, date=dt.date(2026, 12, 25))
    db.session.add(closure)
    db.session.commit()
    return {
        "school": user.school_id,
        "empty_school": user.school_id,
        "user": user.id,
        "closure": closure.id,
        "attendance": 1,
        "report": "none",
        "roll_call": 1,  # bodies are refused before the roll call is looked up
    }


@pytest.fixture
def urls(world) -> dict[tuple[str, str], str]:
    return {(rule, method): url_for_rule(rule, method, world) for rule, method in ROUTES}


def send(client, url: str, method: str, text: str):
    return client.open(url, method=method, data=text, content_type="application/json")


# Routes that read no JSON body: the roster takes CSV (415 for anything else), some take
# no body at all and answer for their resource (404 here: the world has none). Neither may
# choke on a JSON body: a 4xx in the error envelope, never a 500.
NO_JSON = {
    route
    for route, (_query, body, _expected) in MATRIX.items()
    if route[1] in BODY_METHODS and (body is None or route[0].endswith("/roster"))
}


def assert_refused(resp, url: str, route: tuple[str, str] | None = None) -> None:
    """400 or 422 in the error envelope; the bulk route may instead refuse every item."""
    body = resp.get_data(as_text=True)
    if route in NO_JSON:
        assert 400 <= resp.status_code < 500, body[:500]
        assert set(resp.json) == {"errors"}, body[:500]
        return
    if url == BULK and resp.status_code == 200:
        assert {r["status"] for r in resp.json["data"]["results"]} == {"invalid"}, body
        return
    assert resp.status_code in (400, 422), body[:500]
    assert set(resp.json) == {"errors"}, body[:500]


DEPTHS = [900, 1000, 1024, 1025, 5000, 200_000]
DEEP = [
    "{}",
    '{{"name": {}}}',
    '{{"attendances": [{}]}}',
    # A lone surrogate sends the body past orjson to the standard library's parser.
    '{{"name": "\\ud800", "x": {}}}',
    '{{"attendances": [{{"client_event_id": "\\udfff", "x": {}}}]}}',
]


@pytest.mark.parametrize(("rule", "method"), ROUTES)
def test_deep_nesting_is_refused(client, urls, rule, method):
    url = urls[(rule, method)]
    for wrap in DEEP:
        for depth in DEPTHS:
            resp = send(client, url, method, wrap.format(nasty.nested_json(depth)))
            assert_refused(resp, url, (rule, method))


DIGITS = [4300, 4301, 5000, 100_000]
HUGE = [
    "{}",
    "-{}",
    '{{"school_id": {}}}',
    '{{"user_id": {}, "school_id": 1, "type": "checkin", "temperature": 36.6}}',
    '{{"attendances": [{{"user_id": {}}}]}}',
    '{{"name": "\\ud800", "school_id": {}}}',
]


@pytest.mark.parametrize(("rule", "method"), ROUTES)
def test_huge_integers_are_refused(client, urls, rule, method):
    url = urls[(rule, method)]
    for wrap in HUGE:
        for digits in DIGITS:
            resp = send(client, url, method, wrap.format(nasty.huge_integer(digits)))
            assert_refused(resp, url, (rule, method))
            if digits > 4300 and (rule, method) not in NO_JSON:
                assert resp.status_code == 400
                assert "digits" in resp.json["errors"]["detail"]


# -- lone surrogates, anywhere ----------------------------------------------------------

OPTIONAL = ["timezone", "school_days", "name", "timestamp", "image", "client_event_id"]


def spoilt_bodies(valid: dict[str, Any], text: str) -> list[dict[str, Any]]:
    """The valid body with the surrogate text in each field, in a list there, or in a key."""
    bodies: list[dict[str, Any]] = [{**valid, text: 1}]
    for field in sorted(valid) + OPTIONAL:
        bodies += [{**valid, field: text}, {**valid, field: [text]}]
    return bodies


@pytest.mark.parametrize(("rule", "method"), ROUTES)
def test_lone_surrogates_anywhere_are_refused(client, urls, world, rule, method):
    """A valid body (the authorization matrix's) with a lone surrogate anywhere: refused."""
    url = urls[(rule, method)]
    if (rule, method) in NO_JSON:  # a JSON body of any kind is refused whole
        assert_refused(send(client, url, method, nasty.dumps({"x": "\ud800"})), url, (rule, method))
        return
    valid = MATRIX[(rule, method)][1](world)

    @settings(
        max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
    )
    @given(text=nasty.surrogate_texts)
    def check(text: str) -> None:
        if url != BULK:
            for body in spoilt_bodies(valid, text):
                assert_refused(send(client, url, method, nasty.dumps(body)), url)
            return
        good = valid["attendances"][0]
        batch = {"attendances": [good, *spoilt_bodies(good, text)]}
        resp = send(client, url, method, nasty.dumps(batch))
        assert resp.status_code == 200, resp.get_data(as_text=True)
        first, *others = resp.json["data"]["results"]
        assert first["status"] != "invalid", first
        assert {r["status"] for r in others} == {"invalid"}, others

    check()
