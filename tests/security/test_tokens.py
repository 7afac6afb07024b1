"""Bearer tokens: random, stored as hashes, revocable, with a cheaply kept last-used time."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, text

from attendance.security import tokens
from attendance.security.models import ApiToken
from attendance.services import ServiceError


def test_tokens_are_random_and_only_their_hash_is_stored(db, make_school):
    school = make_school()
    row, token = tokens.create_token("device", school.id, "gate 1")
    _, other = tokens.create_token("device", school.id, "gate 2")
    db.session.commit()
    assert token.startswith("att_") and len(token) >= 40 and token != other
    assert row.token_hash == tokens.hash_token(token) != token
    dump = " ".join(str(v) for r in db.session.execute(text("SELECT * FROM api_tokens")) for v in r)
    assert token not in dump and token[4:] not in dump


@pytest.mark.parametrize(
    ("role", "school", "field"),
    [("admin", None, "role"), ("device", None, "school_id"), ("school", 999, "school_id")],
)
def test_create_token_checks_role_and_school(db, role, school, field):
    with pytest.raises(ServiceError) as error:
        tokens.create_token(role, school)
    assert error.value.field == field


def test_district_tokens_take_no_school(db, make_school):
    with pytest.raises(ServiceError):
        tokens.create_token("district", make_school().id)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Token att_abc",
        "Bearer att_" + "x" * 43,
        "Bearer not-a-token",
        "Bearer " + "att_" + "y" * 500,
    ],
)
def test_missing_or_bad_tokens_are_401_with_a_challenge(anonymous, header):
    headers = {"Authorization": header} if header is not None else {}
    resp = anonymous.get("/api/schools", headers=headers)
    assert resp.status_code == 401
    assert resp.json["errors"]["detail"]
    assert resp.headers["WWW-Authenticate"].startswith('Bearer realm="attendance"')


def test_scheme_is_case_insensitive(anonymous, make_token):
    resp = anonymous.get("/api/schools", headers={"Authorization": f"bearer {make_token()}"})
    assert resp.status_code == 200


def test_revoked_token_stops_working_at_once(db, client_as, make_token):
    token = make_token("district")
    client = client_as(token)
    assert client.get("/api/schools").status_code == 200
    row = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == tokens.hash_token(token)))
    tokens.revoke_token(row.id)
    db.session.commit()
    resp = client.get("/api/schools")
    assert resp.status_code == 401
    assert 'error="invalid_token"' in resp.headers["WWW-Authenticate"]


def test_openapi_document_needs_no_token(anonymous):
    assert anonymous.get("/api/openapi.json").status_code == 200


def test_unknown_api_paths_need_a_token_first(anonymous):
    assert anonymous.get("/api/nothing-here").status_code == 401


def test_last_used_is_recorded_at_most_once_a_minute(db, client_as, make_token):
    token = make_token("district")
    row = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == tokens.hash_token(token)))
    assert row.last_used_at is None
    client = client_as(token)
    client.get("/api/schools")
    db.session.refresh(row)
    first = row.last_used_at
    assert first is not None
    client.get("/api/schools")
    db.session.refresh(row)
    assert row.last_used_at == first  # within the minute: no write
    row.last_used_at = first - dt.timedelta(minutes=2)
    db.session.commit()
    client.get("/api/schools")
    db.session.refresh(row)
    assert row.last_used_at > first - dt.timedelta(minutes=2)


def test_touch_writes_once_between_concurrent_callers(db, make_token):
    make_token("district")
    row = db.session.scalar(select(ApiToken))
    now = dt.datetime.now(dt.UTC)
    assert tokens.touch(row.id, row.last_used_at, now) is True
    # A second worker that loaded the row before the first wrote still sees it empty.
    assert tokens.touch(row.id, None, now) is False


def test_deleting_a_school_deletes_its_tokens(db, client, make_school, make_token):
    school = make_school()
    make_token("device", school)
    assert client.delete(f"/api/schools/{school.id}").status_code == 204
    assert db.session.scalar(select(ApiToken).where(ApiToken.school_id == school.id)) is None
