"""The roll call pages: the school page's button, the phone page and its JSON endpoints
(session + CSRF header), reconciling, the present mark, closing, the paper list and CSV."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re

import pytest
from sqlalchemy import select

from attendance import clock
from attendance.models import Mark, RollCall, RollCallEntry

from .conftest import csrf_token

NOW = dt.datetime(2026, 11, 27, 10, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch):
    monkeypatch.setattr(clock, "now", lambda: NOW)


@pytest.fixture
def hillside(make_school, make_user, make_event):
    """Ada (5A) and Bob (5B) checked in at 08:00; Cleo (5A) never came through the gate."""
    school = make_school(name="Hillside")
    ada = make_user(school=school, name="Ada", group="5A", external_id="P-1")
    bob = make_user(school=school, name="Bob", group="5B", external_id="P-2")
    cleo = make_user(school=school, name="Cleo", group="5A", external_id="=P-3")
    for pupil in (ada, bob):
        make_event(user=pupil, timestamp=NOW.replace(hour=8))
    return school, (ada, bob, cleo)


@pytest.fixture
def head(hillside, make_admin, login):
    school, _pupils = hillside
    admin = make_admin("school", school.id)
    login(admin)
    return admin


def started(client, school) -> RollCall:
    token = csrf_token(client, f"/dashboard/schools/{school.id}")
    resp = client.post(f"/dashboard/schools/{school.id}/roll-calls", data={"csrf_token": token})
    assert resp.status_code == 302
    roll_call_id = int(resp.headers["Location"].rstrip("/").split("/")[-1])
    return RollCall(id=roll_call_id)


def page_data(client, roll_call_id: int) -> dict:
    page = client.get(f"/dashboard/roll-calls/{roll_call_id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    block = re.search(r'<script type="application/json" id="roll-call-data">(.*?)</script>', html)
    assert block
    return json.loads(block.group(1))


def test_the_school_page_has_the_start_button_then_a_link_to_the_open_one(client, hillside, head):
    school, _pupils = hillside
    page = client.get(f"/dashboard/schools/{school.id}").get_data(as_text=True)
    assert "Start roll call" in page
    rc = started(client, school)
    page = client.get(f"/dashboard/schools/{school.id}").get_data(as_text=True)
    assert f"/dashboard/roll-calls/{rc.id}" in page and "Roll call in progress" in page
    assert started(client, school).id == rc.id  # the button again: the same roll call


def test_the_phone_page_carries_the_roster_and_no_inline_script(client, hillside, head):
    school, (ada, bob, cleo) = hillside
    rc = started(client, school)
    data = page_data(client, rc.id)
    expected = {p["id"]: p["expected"] for p in data["pupils"]}
    assert expected == {ada.id: True, bob.id: True, cleo.id: False}
    assert data["accounted"] == [] and data["csrf_token"]
    html = client.get(f"/dashboard/roll-calls/{rc.id}").get_data(as_text=True)
    for script in re.findall(r"<script([^>]*)>", html):
        assert "src=" in script or 'type="application/json"' in script


def test_ticks_from_the_page_need_the_csrf_header_and_count_once(client, hillside, head, db):
    school, (ada, _bob, cleo) = hillside
    rc = started(client, school)
    data = page_data(client, rc.id)
    body = {"accounted": [{"user_id": ada.id, "client_event_id": "p-1"}]}
    url = f"/dashboard/roll-calls/{rc.id}/accounted"
    assert client.post(url, json=body).status_code == 400  # no CSRF token
    headers = {"X-CSRFToken": data["csrf_token"]}
    first = client.post(url, json=body, headers=headers)
    assert first.status_code == 201 and first.json["data"][0]["user_id"] == ada.id
    assert client.post(url, json=body, headers=headers).status_code == 200
    bad = client.post(url, json={"accounted": [{"user_id": ada.id}]}, headers=headers)
    assert bad.status_code == 422 and "accounted" in bad.json["errors"]
    assert client.post(url, json=[1], headers=headers).status_code == 400
    client.post(url, json={"user_id": cleo.id, "client_event_id": "p-2"}, headers=headers)
    assert len(db.session.scalars(select(RollCallEntry)).all()) == 2
    state = client.get(f"/dashboard/roll-calls/{rc.id}/state").json
    assert sorted(state["accounted"]) == sorted([ada.id, cleo.id])
    assert state["counts"]["unexpected"] == 1 and state["status"] == "open"
    assert state["csrf_token"]


def test_reconcile_marks_the_unexpected_present_and_closes(client, hillside, head, db):
    school, (ada, bob, cleo) = hillside
    rc = started(client, school)
    headers = {"X-CSRFToken": page_data(client, rc.id)["csrf_token"]}
    url = f"/dashboard/roll-calls/{rc.id}/accounted"
    client.post(url, json={"user_id": cleo.id, "client_event_id": "c"}, headers=headers)
    page = client.get(f"/dashboard/roll-calls/{rc.id}/reconcile").get_data(as_text=True)
    missing = page.split('id="rc-missing-list"')[1].split("</section>")[0]
    assert "Ada" in missing and "Bob" in missing and "Cleo" not in missing
    unexpected = page.split('id="rc-unexpected-list"')[1].split("</section>")[0]
    assert "Cleo" in unexpected and "Mark present" in unexpected
    token = csrf_token(client, f"/dashboard/roll-calls/{rc.id}/reconcile")
    resp = client.post(
        f"/dashboard/roll-calls/{rc.id}/mark-present",
        data={"csrf_token": token, "user_id": cleo.id},
    )
    assert resp.status_code == 302
    mark = db.session.scalars(select(Mark)).one()
    assert (mark.user_id, mark.status, mark.reason, mark.date) == (
        cleo.id,
        "present",
        "roll call",
        dt.date(2026, 11, 27),
    )
    client.post(f"/dashboard/roll-calls/{rc.id}/close", data={"csrf_token": token})
    assert db.session.get(RollCall, rc.id).closed_at == NOW
    closed = client.post(url, json={"user_id": ada.id, "client_event_id": "late"}, headers=headers)
    assert closed.status_code == 409
    listing = client.get(f"/dashboard/schools/{school.id}/roll-calls").get_data(as_text=True)
    assert "closed" in listing


def test_the_paper_list_and_the_csv(client, hillside, head):
    school, (ada, bob, cleo) = hillside
    rc = started(client, school)
    sheet = client.get(f"/dashboard/roll-calls/{rc.id}/print").get_data(as_text=True)
    assert sheet.index("5A") < sheet.index("Ada") < sheet.index("5B") < sheet.index("Bob")
    assert "Cleo" not in sheet and 'class="tick"' in sheet
    headers = {"X-CSRFToken": page_data(client, rc.id)["csrf_token"]}
    client.post(
        f"/dashboard/roll-calls/{rc.id}/accounted",
        json={"accounted": [{"user_id": i, "client_event_id": str(i)} for i in (ada.id, cleo.id)]},
        headers=headers,
    )
    resp = client.get(f"/dashboard/roll-calls/{rc.id}/expected.csv")
    assert resp.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(resp.get_data(as_text=True))))
    assert [(r["name"], r["group"], r["expected"], r["accounted"]) for r in rows] == [
        ("Ada", "5A", "yes", "yes"),
        ("Bob", "5B", "yes", "no"),
        ("Cleo", "5A", "no", "yes"),
    ]
    assert rows[2]["external_id"] == "'=P-3"  # no formula for a spreadsheet to run


def test_the_service_worker_is_served_for_the_roll_call_pages(client, hillside):
    resp = client.get("/dashboard/roll-calls/sw.js")
    assert resp.status_code == 200 and resp.mimetype == "text/javascript"
    assert resp.headers["Service-Worker-Allowed"] == "/dashboard/roll-calls/"
    assert "no-cache" in resp.headers["Cache-Control"]
    assert "script-src 'self'" in resp.headers["Content-Security-Policy"]


def test_another_schools_admin_sees_none_of_it(client, hillside, make_school, make_admin, login):
    school, (ada, _bob, _cleo) = hillside
    from attendance.services import roll_calls

    rc, _created = roll_calls.start(school, "admin:1")
    from attendance.extensions import db

    db.session.commit()
    other = make_school(name="Other")
    login(make_admin("school", other.id))
    for path in ("", "/state", "/reconcile", "/print", "/expected.csv"):
        assert client.get(f"/dashboard/roll-calls/{rc.id}{path}").status_code == 403, path
    token = csrf_token(client, f"/dashboard/schools/{other.id}")
    resp = client.post(
        f"/dashboard/roll-calls/{rc.id}/accounted",
        json={"user_id": ada.id, "client_event_id": "x"},
        headers={"X-CSRFToken": token},
    )
    assert resp.status_code == 403
    assert client.get(f"/dashboard/schools/{school.id}/roll-calls").status_code == 403


def test_signed_out_the_json_endpoints_answer_401(client, hillside):
    school, _pupils = hillside
    from attendance.extensions import db
    from attendance.services import roll_calls

    rc, _created = roll_calls.start(school, "admin:1")
    db.session.commit()
    resp = client.get(
        f"/dashboard/roll-calls/{rc.id}/state", headers={"Accept": "application/json"}
    )
    assert resp.status_code == 401
