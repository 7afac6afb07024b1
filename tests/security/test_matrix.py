"""Every /api route against every kind of caller, with the exact status each must get.

A route missing from MATRIX fails `test_every_route_is_in_the_matrix`, so a new route
cannot ship without someone deciding who may call it.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest

from attendance.models import Closure, Mark
from attendance.security.images import Upload, save
from attendance.services import roll_calls
from attendance.webhook_models import WebhookDelivery

from .images import png

PRINCIPALS = (
    "none",
    "wrong",
    "revoked",
    "device",
    "staff",
    "other_admin",
    "own_admin",
    "district",
)
# Statuses for device, other school's admin, own school's admin, district admin, and the own
# school's staff token (403 unless said: staff tokens do roll calls only); the three
# callers without a valid token always get 401.
ANON = {"none": 401, "wrong": 401, "revoked": 401}


def row(device: int, other: int, own: int, district: int, staff: int = 403) -> dict[str, int]:
    return {
        **ANON,
        "device": device,
        "staff": staff,
        "other_admin": other,
        "own_admin": own,
        "district": district,
    }


def event_body(w: dict[str, Any]) -> dict[str, Any]:
    return {"user_id": w["user"], "school_id": w["school"], "type": "checkin", "temperature": 36.6}


def webhook_body(w: dict[str, Any]) -> dict[str, Any]:
    return {
        "url": "http://127.0.0.1:9/hooks",
        "event_types": ["attendance.fever"],
        "school_id": w["school"],
    }


# (rule, method) -> (query string, body builder, expected statuses)
MATRIX: dict[tuple[str, str], tuple[str, Any, dict[str, int]]] = {
    ("/api/schools", "GET"): ("", None, row(403, 200, 200, 200)),
    ("/api/schools", "POST"): ("", lambda w: {"name": "New"}, row(403, 403, 403, 201)),
    ("/api/schools/<int:school_id>", "GET"): ("", None, row(403, 404, 200, 200)),
    ("/api/schools/<int:school_id>", "PATCH"): (
        "",
        lambda w: {"name": "R"},
        row(403, 404, 200, 200),
    ),
    ("/api/schools/<int:school_id>", "PUT"): ("", lambda w: {"name": "R"}, row(403, 404, 200, 200)),
    # Deleting a school is for district admins; the school deleted is an empty one.
    ("/api/schools/<int:school_id>", "DELETE"): ("", None, row(403, 403, 403, 204)),
    ("/api/schools/<int:school_id>/closures", "GET"): ("", None, row(403, 404, 200, 200)),
    ("/api/schools/<int:school_id>/closures", "POST"): (
        "",
        lambda w: {"date": "2026-12-31"},
        row(403, 404, 201, 201),
    ),
    ("/api/schools/<int:school_id>/closures/<int:closure_id>", "GET"): (
        "",
        None,
        row(403, 404, 200, 200),
    ),
    ("/api/schools/<int:school_id>/closures/<int:closure_id>", "DELETE"): (
        "",
        None,
        row(403, 404, 204, 204),
    ),
    # Marks: admins of that school and district admins; never devices.
    ("/api/schools/<int:school_id>/marks", "GET"): ("", None, row(403, 404, 200, 200)),
    ("/api/schools/<int:school_id>/marks", "POST"): (
        "",
        lambda w: {"user_id": w["user"], "date": "2026-11-23", "status": "absent", "reason": "ill"},
        row(403, 404, 201, 201),
    ),
    ("/api/schools/<int:school_id>/marks/<int:mark_id>", "DELETE"): (
        "",
        None,
        row(403, 404, 204, 204),
    ),
    ("/api/users", "GET"): ("school_id={school}", None, row(200, 403, 200, 200)),
    ("/api/users", "POST"): (
        "",
        lambda w: {"name": "New", "school_id": w["school"]},
        row(403, 403, 201, 201),
    ),
    ("/api/users/<int:user_id>", "GET"): ("", None, row(403, 404, 200, 200)),
    ("/api/users/<int:user_id>", "PATCH"): ("", lambda w: {"name": "R"}, row(403, 404, 200, 200)),
    ("/api/users/<int:user_id>", "PUT"): (
        "",
        lambda w: {"name": "R", "school_id": w["school"]},
        row(403, 404, 200, 200),
    ),
    ("/api/users/<int:user_id>", "DELETE"): ("", None, row(403, 404, 204, 204)),
    ("/api/attendances", "GET"): ("school_id={school}", None, row(403, 403, 200, 200)),
    ("/api/attendances", "POST"): ("", event_body, row(201, 403, 201, 201)),
    ("/api/attendances/bulk", "POST"): (
        "",
        lambda w: {"attendances": [event_body(w)]},
        row(200, 403, 200, 200),
    ),
    ("/api/attendances/<bigid:attendance_id>", "GET"): ("", None, row(403, 404, 200, 200)),
    ("/api/attendances/<bigid:attendance_id>", "DELETE"): ("", None, row(403, 404, 204, 204)),
    ("/api/attendances/<bigid:attendance_id>/image", "GET"): ("", None, row(403, 404, 200, 200)),
    ("/api/attendances/aggregate/school/<int:school_id>", "GET"): (
        "",
        None,
        row(403, 404, 200, 200),
    ),
    # The district report: every school's figures, for district tokens only.
    ("/api/attendances/aggregate/district", "GET"): ("", None, row(403, 403, 403, 200)),
    ("/api/reports/<string:report_id>", "GET"): ("", None, row(403, 404, 200, 200)),
    ("/api/schools/<int:school_id>/fever-events", "GET"): ("", None, row(403, 404, 200, 200)),
    # Rosters: admins of that school and district admins; never devices. A str body is CSV.
    ("/api/schools/<int:school_id>/roster", "POST"): (
        "dry_run=true",
        lambda w: "external_id,name\nP1,Ada\n",
        row(403, 404, 200, 200),
    ),
    ("/api/schools/<int:school_id>/roster.csv", "GET"): ("", None, row(403, 404, 200, 200)),
    # Webhooks: a school's admins for their school's, district admins for any; never devices.
    ("/api/webhooks", "GET"): ("", None, row(403, 200, 200, 200)),
    ("/api/webhooks", "POST"): ("", webhook_body, row(403, 403, 201, 201)),
    ("/api/webhooks/<int:webhook_id>", "GET"): ("", None, row(403, 404, 200, 200)),
    ("/api/webhooks/<int:webhook_id>", "DELETE"): ("", None, row(403, 404, 204, 204)),
    ("/api/webhooks/<int:webhook_id>/rotate-secret", "POST"): ("", None, row(403, 404, 200, 200)),
    ("/api/webhooks/<int:webhook_id>/deliveries", "GET"): ("", None, row(403, 404, 200, 200)),
    ("/api/webhooks/<int:webhook_id>/deliveries/<string:delivery_id>/redeliver", "POST"): (
        "",
        None,
        row(403, 404, 202, 202),
    ),
    # Roll calls: admins start and close them; staff tokens tick and read; never devices.
    # The world has one open already: starting answers it (200).
    ("/api/schools/<int:school_id>/roll-calls", "GET"): ("", None, row(403, 404, 200, 200, 200)),
    ("/api/schools/<int:school_id>/roll-calls", "POST"): (
        "",
        lambda w: {},
        row(403, 404, 200, 200),
    ),
    ("/api/roll-calls/<int:roll_call_id>", "GET"): ("", None, row(403, 404, 200, 200, 200)),
    ("/api/roll-calls/<int:roll_call_id>/accounted", "POST"): (
        "",
        lambda w: {"user_id": w["user"], "client_event_id": "matrix-1"},
        row(403, 404, 201, 201, 201),
    ),
    ("/api/roll-calls/<int:roll_call_id>/close", "POST"): (
        "",
        lambda w: {},
        row(403, 404, 200, 200),
    ),
}

# Routes that need no token at all.
PUBLIC = {("/api/openapi.json", "GET"), ("/api/docs", "GET")}


def api_routes(app) -> set[tuple[str, str]]:
    return {
        (rule.rule, method)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }


def test_every_route_is_in_the_matrix(app):
    missing = api_routes(app) - set(MATRIX) - PUBLIC
    assert not missing, f"decide who may call these and add them to MATRIX: {sorted(missing)}"
    assert not set(MATRIX) - api_routes(app), "MATRIX names routes that no longer exist"


@pytest.fixture
def world(db, make_school, make_user, make_event, client_as) -> dict[str, Any]:
    """School A (the caller's own), school B (another's), an empty school, and A's data."""
    own, other, empty = make_school(name="A"), make_school(name="B"), make_school(name="Empty")
    user = make_user(school=own)
    make_user(school=other)
    event = make_event(user=user, image=save(Upload(png())))
    closure = Closure(school_id=own.id, date=dt.date(2026, 12, 25))
    mark = Mark(
        user_id=user.id,
        school_id=own.id,
        date=dt.date(2026, 11, 23),
        status="absent",
        reason="ill",
        created_by="admin:1",
    )
    db.session.add_all([closure, mark])
    db.session.commit()
    hook = client_as("district").post("/api/webhooks", json=webhook_body({"school": own.id}))
    delivery = WebhookDelivery(
        id="msg_matrix",
        webhook_id=hook.json["data"]["id"],
        event_type="attendance.fever",
        event_key="fever:test",
        body="{}",
        status="delivered",
        attempts=1,
    )
    db.session.add(delivery)
    roll_call, _created = roll_calls.start(own, "admin:1")
    db.session.commit()
    aggregate = client_as("district").get(f"/api/attendances/aggregate/school/{own.id}")
    return {
        "report": aggregate.json["data"]["report_id"],
        "school": own.id,
        "other_school": other.id,
        "empty_school": empty.id,
        "user": user.id,
        "attendance": event.id,
        "closure": closure.id,
        "mark": mark.id,
        "webhook": hook.json["data"]["id"],
        "delivery": delivery.id,
        "roll_call": roll_call.id,
    }


def client_for(who: str, world: dict[str, Any], client_as, anonymous, make_token):
    if who == "none":
        return anonymous
    if who == "wrong":
        return client_as("att_" + "x" * 43)
    if who == "revoked":
        return client_as(make_token("district", revoked=True))
    if who == "device":
        return client_as("device", world["school"])
    if who == "staff":
        return client_as("staff", world["school"])
    if who == "other_admin":
        return client_as("school", world["other_school"])
    if who == "own_admin":
        return client_as("school", world["school"])
    return client_as("district")


def url_for_rule(rule: str, method: str, world: dict[str, Any]) -> str:
    values = {
        "school_id": world["empty_school"] if method == "DELETE" and rule.count("<") == 1 else None,
        "closure_id": world["closure"],
        "mark_id": world.get("mark"),
        "user_id": world["user"],
        "attendance_id": world["attendance"],
        "report_id": world["report"],
        "webhook_id": world.get("webhook"),
        "delivery_id": world.get("delivery"),
        "roll_call_id": world.get("roll_call"),
    }
    if values["school_id"] is None:
        values["school_id"] = world["school"]

    def fill(match: re.Match[str]) -> str:
        return str(values[match.group(1)])

    return re.sub(r"<(?:\w+:)?(\w+)>", fill, rule)


@pytest.mark.parametrize("who", PRINCIPALS)
@pytest.mark.parametrize(("rule", "method"), sorted(MATRIX))
def test_route_answers_each_principal(rule, method, who, world, client_as, anonymous, make_token):
    query, body, expected = MATRIX[(rule, method)]
    url = url_for_rule(rule, method, world)
    if query:
        url += "?" + query.format(**world)
    client = client_for(who, world, client_as, anonymous, make_token)
    kwargs: dict[str, Any] = {}
    if body:
        sent = body(world)
        kwargs = (
            {"data": sent, "content_type": "text/csv"} if isinstance(sent, str) else {"json": sent}
        )
    resp = client.open(url, method=method, **kwargs)
    assert resp.status_code == expected[who], (method, url, who, resp.get_data(as_text=True))
    if resp.status_code >= 400:
        assert set(resp.json) == {"errors"}
    if resp.status_code == 401:
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
