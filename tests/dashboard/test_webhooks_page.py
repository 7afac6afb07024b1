"""The webhooks page: a school admin's scope, the secret shown once, errors named."""

from __future__ import annotations

from sqlalchemy import select

from attendance.webhook_models import Webhook

from .conftest import csrf_token

URL = "http://127.0.0.1:9/hooks"


def subscribe(client, **fields):
    token = csrf_token(client, "/dashboard/webhooks")
    data = {"url": URL, "event_types": ["attendance.fever"], "csrf_token": token, **fields}
    return client.post("/dashboard/webhooks", data=data)


def test_a_school_admin_sees_and_makes_only_their_schools(
    client, login, make_admin, make_school, db
):
    own, other = make_school(name="Own"), make_school(name="Other")
    login(make_admin("school", own.id))
    made = subscribe(client, school_id=str(own.id))
    assert made.status_code == 201
    page = made.get_data(as_text=True)
    [hook] = db.session.scalars(select(Webhook)).all()
    assert hook.school_id == own.id
    secret = page.split('id="shown-secret">')[1].split("<")[0]
    assert secret.startswith("whsec_")
    assert secret not in client.get("/dashboard/webhooks").get_data(as_text=True)
    refused = subscribe(client, school_id=str(other.id))
    assert refused.status_code == 422 and "choose a school" in refused.get_data(as_text=True)
    assert subscribe(client, school_id="").status_code == 422  # "all schools" is the district's
    elsewhere = Webhook(
        url=URL,
        event_types=["attendance.fever"],
        school_id=other.id,
        secret_encrypted="x",
        created_by="test",
    )
    db.session.add(elsewhere)
    db.session.commit()
    assert client.get(f"/dashboard/webhooks/{elsewhere.id}").status_code == 404
    token = csrf_token(client, "/dashboard/webhooks")
    assert (
        client.post(
            f"/dashboard/webhooks/{elsewhere.id}/delete", data={"csrf_token": token}
        ).status_code
        == 404
    )
    assert "Other" not in client.get("/dashboard/webhooks").get_data(as_text=True)


def test_refused_urls_and_missing_events_are_named(client, login, make_admin, make_school):
    school = make_school()
    login(make_admin("district"))
    bad = subscribe(client, url="https://169.254.169.254/latest", school_id=str(school.id))
    assert bad.status_code == 422
    assert "must not resolve to a loopback" in bad.get_data(as_text=True)
    none = subscribe(client, event_types=[], school_id="")
    assert none.status_code == 422 and "tick at least one event" in none.get_data(as_text=True)
    everywhere = subscribe(client, school_id="")
    assert everywhere.status_code == 201 and "All schools" in everywhere.get_data(as_text=True)


def test_forms_need_the_csrf_token(client, login, make_admin, make_school, db):
    login(make_admin("district"))
    answer = client.post(
        "/dashboard/webhooks", data={"url": URL, "event_types": ["attendance.fever"]}
    )
    assert answer.status_code in (400, 403)
    assert db.session.scalars(select(Webhook)).all() == []
