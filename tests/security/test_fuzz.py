"""Schemathesis against the published OpenAPI document, in-process, with a district token.

It must find no 500s and no answer that the document does not describe (status, content
type, body schema, headers), and the `ignored_auth` check confirms that dropping the token
is refused. Examples per operation are bounded so the run takes a minute or two.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode, checks

from attendance import create_app
from attendance.models import Closure
from attendance.security.images import Upload, save

from .images import png

MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "50"))
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
    checks.allow_header_conformance,
    checks.ignored_auth,
]


@pytest.fixture
def api_schema(app, db, make_school, make_user, make_event) -> Any:
    """The document as served, over a little data so that ids 1 and 2 exist."""
    for name in ("Hillside", "Riverside"):
        school = make_school(name=name)
        user = make_user(school=school)
        make_event(user=user, image=save(Upload(png())))
        db.session.add(Closure(school_id=school.id, date=dt.date(2026, 12, 25)))
    db.session.commit()
    return schemathesis.openapi.from_wsgi("/api/openapi.json", app)


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
