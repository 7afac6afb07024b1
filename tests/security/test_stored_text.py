"""What is stored as text: names without control characters, ids strictly integers, and
printable ASCII idempotency keys; each refused as 422 naming the field (or header)."""

from __future__ import annotations

import datetime as dt
import itertools
import string
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attendance.inputs import CONTROL, NO_CONTROL
from attendance.models import Attendance, School, User
from tests.conftest import event_body

from . import nasty

HTTP = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)
TEXT = st.text(st.characters(codec="utf-8"), max_size=5)
controls = st.one_of(
    st.sampled_from(["\x1b[2J", "\x1b]8;;https://evil.example\x07", "\x9b31m", "\x7f", "\x85"]),
    st.characters(categories=["Cc"]).filter(lambda c: c != "\x00"),
)
_days = itertools.count()


def next_day() -> str:
    """A new closure date each time (adding a known date answers the stored closure)."""
    return (dt.date(2030, 1, 1) + dt.timedelta(days=next(_days))).isoformat()


# (method, path, body builder): every body that carries a name.
NAMED = [
    ("POST", "/api/schools", lambda w, name: {"name": name}),
    ("PUT", "/api/schools/{school}", lambda w, name: {"name": name}),
    ("PATCH", "/api/schools/{school}", lambda w, name: {"school": {"name": name}}),
    ("POST", "/api/users", lambda w, name: {"name": name, "school_id": w["school"]}),
    ("PUT", "/api/users/{user}", lambda w, name: {"name": name, "school_id": w["school"]}),
    ("PATCH", "/api/users/{user}", lambda w, name: {"user": {"name": name}}),
    ("POST", "/api/schools/{school}/closures", lambda w, name: {"date": next_day(), "name": name}),
]


@pytest.fixture
def world(make_user) -> dict[str, int]:
    user = make_user()
    return {"school": user.school_id, "user": user.id}


@pytest.mark.parametrize(("method", "path", "body"), NAMED)
def test_names_with_control_characters_are_refused(client, world, method, path, body):
    url = path.format(**world)

    @HTTP
    # Inside the name: at its ends, what str.strip() takes as whitespace is stripped.
    @given(name=st.tuples(st.just("A"), TEXT, controls, TEXT, st.just("Z")).map("".join))
    def check(name: str) -> None:
        resp = client.open(url, method=method, json=body(world, name))
        assert resp.status_code == 422, resp.json
        messages = resp.json["errors"]["name"]
        assert messages in ([NO_CONTROL], ["must not contain NUL characters"]), messages

    check()


@pytest.mark.parametrize(("method", "path", "body"), NAMED)
def test_names_are_stored_without_surrounding_spaces(client, world, method, path, body):
    url = path.format(**world)
    spaces = st.text(" \t\u00a0\u3000", max_size=3)
    printing = st.characters(codec="utf-8", exclude_categories=["Cc", "Zs", "Zl", "Zp"])
    inner = st.text(printing, min_size=1)

    @HTTP
    @given(before=spaces, name=inner.filter(lambda n: len(n) <= 200), after=spaces)
    def check(before: str, name: str, after: str) -> None:
        resp = client.open(url, method=method, json=body(world, before + name + after))
        assert resp.status_code in (200, 201), resp.json
        assert resp.json["data"]["name"] == name

    check()


def test_a_name_of_spaces_is_blank(client, world):
    resp = client.post("/api/schools", json={"name": " \t "})
    assert resp.status_code == 422 and "name" in resp.json["errors"]


def test_stored_names_hold_no_control_characters(client, db, world):
    for name in ["\x1b[31mRed\x1b[0m", "Tab\there", "C1\x9b", " ok "]:
        client.post("/api/schools", json={"name": name})
        client.post("/api/users", json={"name": name, "school_id": world["school"]})
    names = [s.name for s in db.session.query(School)] + [u.name for u in db.session.query(User)]
    assert "ok" in names and not any(CONTROL.search(n) for n in names)


# -- ids: strictly integers ---------------------------------------------------------------

not_integers = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["1", " 1", "1.0", "0x1", "١"]),  # the last: ARABIC-INDIC DIGIT ONE
    st.booleans(),
    nasty.surrogate_texts,
)
ID_FIELDS = [
    ("/api/users", lambda w: {"name": "N", "school_id": w["school"]}, "school_id"),
    ("/api/attendances", lambda w: event_body_ids(w), "school_id"),
    ("/api/attendances", lambda w: event_body_ids(w), "user_id"),
    ("/api/schools", lambda w: {"name": "N", "school_days": [1, 2]}, "school_days"),
]


def event_body_ids(w: dict[str, int]) -> dict[str, Any]:
    return {"user_id": w["user"], "school_id": w["school"], "type": "checkin", "temperature": 37}


@pytest.mark.parametrize(("path", "body", "field"), ID_FIELDS)
def test_ids_must_be_json_integers(client, db, world, path, body, field):
    @HTTP
    @given(value=not_integers)
    def check(value: Any) -> None:
        sent = body(world)
        sent[field] = [1, value] if field == "school_days" else value
        before = db.session.query(Attendance).count() + db.session.query(User).count()
        resp = client.post(path, json=sent)
        assert resp.status_code == 422, (value, resp.json)
        assert field in resp.json["errors"]
        assert db.session.query(Attendance).count() + db.session.query(User).count() == before

    check()


def test_the_probes_float_id_is_refused_not_truncated(client, db, world):
    resp = client.post("/api/users", json={"name": "Float", "school_id": world["school"] + 0.5})
    assert resp.status_code == 422
    assert resp.json["errors"] == {"school_id": ["Not a valid integer."]}
    batch = {"attendances": [{**event_body_ids(world), "user_id": world["user"] + 0.5}]}
    result = client.post("/api/attendances/bulk", json=batch).json["data"]["results"][0]
    assert result["status"] == "invalid" and "user_id" in result["errors"]


# -- the Idempotency-Key header -----------------------------------------------------------

PRINTABLE = string.printable.strip("\t\n\r\x0b\x0c")
IDEM = "Idempotency-Key"


def test_printable_ascii_keys_are_taken(client, make_user):
    user = make_user()
    key = PRINTABLE.strip()[:200]
    first = client.post("/api/attendances", json=event_body(user), headers={IDEM: key})
    again = client.post("/api/attendances", json=event_body(user), headers={IDEM: key})
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json["data"]["client_event_id"] == key


def test_other_keys_are_refused_naming_the_header(client, make_user):
    user = make_user()

    @HTTP
    @given(
        key=st.tuples(
            st.text(PRINTABLE, max_size=5),
            st.characters(min_codepoint=0x80, max_codepoint=0xFF)
            | st.characters(max_codepoint=0x1F, exclude_characters="\t\n\r"),
            st.text(PRINTABLE, max_size=5),
        ).map("".join)
    )
    def check(key: str) -> None:
        # Each byte of a header reaches the app as one Latin-1 character (WSGI's rule).
        resp = client.post("/api/attendances", json=event_body(user), headers={IDEM: key})
        assert resp.status_code == 422, (key, resp.json)
        assert list(resp.json["errors"]) == [IDEM]

    check()


def test_the_probes_utf8_key_is_refused_not_garbled(client, db, make_user):
    user = make_user()
    key = "clé-1".encode().decode("latin-1")  # what WSGI hands over for UTF-8 bytes
    resp = client.post("/api/attendances", json=event_body(user), headers={IDEM: key})
    assert resp.status_code == 422
    assert resp.json["errors"] == {IDEM: ["must be printable ASCII (space to ~)"]}
    assert db.session.query(Attendance).count() == 0
