"""Schemathesis against the published OpenAPI document, in-process, with a district token.

It must find no 500s and no answer that the document does not describe (status, content
type, body schema, headers), and the `ignored_auth` check confirms that dropping the token
is refused. Examples per operation are bounded so the run takes a minute or two.

What the document describes is not all a client may send: hooks spoil about half of the
generated bodies and query strings with what an outside probe crashed the service with
(see `nasty`): lone surrogates, nesting past the parsers' limits, integers of thousands of
digits, and dates of years 1 and 9999 with offsets up to ±23:59:59.999999.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode, checks

from attendance import create_app
from attendance.models import Closure, School
from attendance.security.images import Upload, save
from attendance.services import roll_calls
from attendance.webhook_models import Webhook

from . import nasty
from .images import png


def known_ids(context: Any, parameters: Any) -> st.SearchStrategy[Any]:
    """The path as generated, or naming rows that exist: past the 404, to the checks."""
    if not isinstance(parameters, dict):
        return st.just(parameters)
    ids = {k: 1 for k in parameters if k.endswith("_id") and k != "report_id"}
    return st.one_of(st.just(parameters), st.just({**parameters, **ids}))


def reports_are_computed(ctx: Any, response: Any, case: Any) -> None:
    """An aggregate answered is a finished report: the test app runs jobs in-process.

    Queued or running afterwards means stuck (ranges in year 1 stayed queued until their
    deadline); failed is a server error answered as data.
    """
    if "/aggregate/" in case.operation.path and response.status_code in (200, 202):
        report = response.json()["data"]
        assert report["status"] == "finished", f"the report is {report['status']}: {report}"


@schemathesis.serializer("text/csv")
def csv_body(ctx: Any, value: Any) -> bytes:
    """Roster bodies (POST /api/schools/:id/roster): text as UTF-8, anything else as JSON text.

    Generated or spoilt values that are not text still reach the route, as bytes a client
    could send: the route must refuse them cleanly (422), never fail.
    """
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass")
    return json.dumps(value, default=str).encode()


MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "50"))
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
    checks.allow_header_conformance,
    checks.ignored_auth,
    reports_are_computed,
]


@pytest.fixture
def api_schema(app, db, make_school, make_user, make_event) -> Any:
    """The document as served, over a little data so that ids 1 and 2 exist."""
    for name in ("Hillside", "Riverside"):
        school = make_school(name=name)
        user = make_user(school=school)
        make_event(user=user, image=save(Upload(png())))
        db.session.add(Closure(school_id=school.id, date=dt.date(2026, 12, 25)))
        db.session.add(
            Webhook(
                url="http://127.0.0.1:9/hooks",
                event_types=["attendance.fever"],
                school_id=school.id,
                secret_encrypted="not a secret",
                created_by="test",
            )
        )
    db.session.commit()
    # An open roll call (id 1) with a tick: its routes are reached past the 404.
    roll_call, _created = roll_calls.start(db.session.get(School, 1), "admin:1")
    roll_calls.record(roll_call, [{"user_id": 1, "client_event_id": "fuzz"}], "admin:1")
    db.session.commit()
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    schema.hook("flatmap_body")(spoil_body)
    schema.hook("flatmap_query")(spoil_query)
    schema.hook("flatmap_path_parameters")(known_ids)
    return schema


# -- the probe's inputs, injected --------------------------------------------------------

PLACEHOLDER = "\x00spoilt\x00"
# JSON texts no Python value serializes to (json.dumps recurses, and refuses such ints).
RAW = st.one_of(
    st.sampled_from([900, 1000, 1025, 5000]).map(nasty.nested_json),
    st.sampled_from([4301, 5000, 20_000]).map(nasty.huge_integer),
)
VALUES = st.one_of(nasty.nasty_values, nasty.edge_timestamps, nasty.edge_dates)


def _slots(value: Any, depth: int = 0) -> list[tuple[Any, Any]]:
    """(container, key) of every value inside a body (a bulk batch's items too)."""
    if depth > 4 or not isinstance(value, dict | list):
        return []
    found: list[tuple[Any, Any]] = []
    for key in list(value) if isinstance(value, dict) else range(len(value)):
        found.append((value, key))
        found += _slots(value[key], depth + 1)
    return found


def _spoilt(body: Any, slot: int, value: Any) -> Any:
    """The body with the value at one of its slots (or the whole body) replaced."""
    spoilt = copy.deepcopy(body)
    slots = _slots(spoilt)
    if not slots:
        return value
    container, key = slots[slot % len(slots)]
    container[key] = value
    return spoilt


def _raw(body: Any, slot: int, text: str) -> Any:
    """The body as JSON text with one value replaced by `text` (as is, if it has no JSON)."""
    try:
        encoded = json.dumps(_spoilt(body, slot, PLACEHOLDER))
    except (TypeError, ValueError):
        return body
    return encoded.replace(json.dumps(PLACEHOLDER), text).encode()


def spoil_body(context: Any, body: Any) -> st.SearchStrategy[Any]:
    """The body as generated, or with one value (or the whole) made nasty."""
    if isinstance(body, bytes) or context.operation.path.endswith("/roster"):
        # A roster is a file, not JSON: werkzeug's test client cannot even encode a lone
        # surrogate in a multipart field. Its own nasty inputs (not UTF-8, NUL, broken
        # quotes, surrogates) are sent by tests/api/test_roster*.py and csv_body below.
        return st.just(body)
    slots = st.integers(0, 1000)
    return st.one_of(
        st.just(body),
        st.builds(_spoilt, st.just(body), slots, VALUES),
        st.builds(_raw, st.just(body), slots, RAW),
    )


def spoil_query(context: Any, query: Any) -> st.SearchStrategy[Any]:
    """The query as generated, or with `from`/`to` (or another parameter) made nasty."""
    if not isinstance(query, dict):
        return st.just(query)
    keys = st.sampled_from(sorted({"from", "to", *query}))
    values = st.one_of(
        nasty.extreme_timestamps,
        nasty.extreme_dates,
        nasty.edge_timestamps,
        nasty.edge_dates,
        st.just(nasty.huge_integer(5000)),
    )
    dates = st.one_of(nasty.extreme_dates, nasty.edge_dates)
    return st.one_of(
        st.just(query),
        st.builds(lambda k, v: {**query, k: v}, keys, values),
        st.builds(lambda f, t: {**query, "from": f, "to": t}, dates, dates),
        st.builds(lambda d: {**query, "from": d, "to": d}, dates),
    )


def operations() -> list[tuple[str, str]]:
    """The documented operations, read from an app made only to describe itself."""
    described = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "TESTING": True})
    doc = described.test_client().get("/api/openapi.json").json
    return sorted(
        (path, method.upper())
        for path, item in doc["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    )


@pytest.fixture
def district_auth(make_token) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token('district')}"}


# schemathesis' own pytest loader (from_fixture) does not work with pytest 9 yet, so each
# test drives Hypothesis over one operation of the schema loaded from the test app.
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize(("path", "method"), operations())
def test_api_conforms_to_its_document(api_schema, district_auth, path, method, mode):
    operation = api_schema[path][method]

    @given(case=operation.as_strategy(mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        derandomize=os.environ.get("CI") == "true",
        database=None,
    )
    def run(case: Any) -> None:
        case.call_and_validate(headers=district_auth, checks=CHECKS)

    run()
