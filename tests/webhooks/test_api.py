"""/api/webhooks: who may subscribe to what, secrets shown once and stored encrypted."""

from __future__ import annotations

import base64
import re

import pytest
from sqlalchemy import select

from attendance.services.webhooks import secrets
from attendance.webhook_models import Webhook

URL = "http://127.0.0.1:9/hooks"
FEVER = ["attendance.fever"]


def test_create_answers_the_secret_once_and_lists_without_it(client, make_school, db):
    school = make_school()
    answer = client.post(
        "/api/webhooks",
        json={
            "webhook": {
                "url": URL,
                "event_types": FEVER + ["school.day_closed"],
                "school_id": school.id,
            }
        },
    )
    assert answer.status_code == 201
    data = answer.json["data"]
    assert answer.headers["Location"].endswith(f"/api/webhooks/{data['id']}")
    assert re.fullmatch(r"whsec_[A-Za-z0-9+/]+=*", data["secret"])
    assert len(base64.b64decode(data["secret"][6:])) >= 24
    assert data["enabled"] is True and data["school_id"] == school.id
    listed = client.get("/api/webhooks").json
    assert listed["meta"]["total"] == 1 and "secret" not in listed["data"][0]
    assert "secret" not in client.get(f"/api/webhooks/{data['id']}").json["data"]
    stored = db.session.scalar(select(Webhook.secret_encrypted))
    assert data["secret"] not in stored and data["secret"][6:] not in stored


def test_rotate_gives_a_new_secret_and_delete_removes(client, make_school):
    school = make_school()
    hook = client.post(
        "/api/webhooks", json={"url": URL, "event_types": FEVER, "school_id": school.id}
    ).json["data"]
    rotated = client.post(f"/api/webhooks/{hook['id']}/rotate-secret")
    assert rotated.status_code == 200
    assert rotated.json["data"]["secret"] not in (None, hook["secret"])
    assert client.delete(f"/api/webhooks/{hook['id']}").status_code == 204
    assert client.get(f"/api/webhooks/{hook['id']}").status_code == 404


def test_school_admins_subscribe_for_their_school_only(client_as, make_school):
    own, other = make_school(), make_school(name="Other")
    admin = client_as("school", own)
    made = admin.post("/api/webhooks", json={"url": URL, "event_types": FEVER})
    assert made.status_code == 201 and made.json["data"]["school_id"] == own.id
    assert (
        admin.post(
            "/api/webhooks", json={"url": URL, "event_types": FEVER, "school_id": None}
        ).status_code
        == 403
    )
    assert (
        admin.post(
            "/api/webhooks", json={"url": URL, "event_types": FEVER, "school_id": other.id}
        ).status_code
        == 403
    )
    district = client_as("district").post("/api/webhooks", json={"url": URL, "event_types": FEVER})
    assert district.status_code == 201 and district.json["data"]["school_id"] is None
    # The district-wide one is not the school admin's to see or touch.
    assert [h["id"] for h in admin.get("/api/webhooks").json["data"]] == [made.json["data"]["id"]]
    assert admin.delete(f"/api/webhooks/{district.json['data']['id']}").status_code == 404
    assert (
        client_as("school", other).get(f"/api/webhooks/{made.json['data']['id']}").status_code
        == 404
    )
    assert client_as("device", own).get("/api/webhooks").status_code == 403


def test_bad_bodies_are_422_naming_the_field(client, make_school):
    school = make_school()

    def post(**fields):
        body = {"url": URL, "event_types": FEVER, "school_id": school.id, **fields}
        return client.post("/api/webhooks", json=body)

    assert "event_types" in post(event_types=["pupil.sneezed"]).json["errors"]
    assert "event_types" in post(event_types=[]).json["errors"]
    assert "event_types" in post(event_types=FEVER * 2).json["errors"]
    assert "url" in post(url="ftp://example.com/x").json["errors"]
    assert "url" in post(url="https://user:pw@example.com/x").json["errors"]
    assert "url" in post(url="x" * 3000).json["errors"]
    assert post(school_id=999999).json["errors"] == {"school_id": ["no such school"]}
    assert post(school_id="1").status_code == 422


def test_school_alert_settings_are_partial_and_checked(client, make_school):
    school = make_school()
    shown = client.get(f"/api/schools/{school.id}").json["data"]
    assert (shown["alert_streak_days"], shown["year_start"]) == (3, "09-01")
    changed = client.put(f"/api/schools/{school.id}", json={"alert_streak_days": 5})
    assert changed.json["data"]["alert_streak_days"] == 5
    assert changed.json["data"]["year_start"] == "09-01"
    changed = client.patch(f"/api/schools/{school.id}", json={"year_start": "08-15"})
    assert changed.json["data"]["year_start"] == "08-15"
    for bad in ("02-29", "13-01", "9-1", "", None):
        answer = client.patch(f"/api/schools/{school.id}", json={"year_start": bad})
        assert answer.status_code == 422 and "year_start" in answer.json["errors"], bad
    for bad in (0, 367, True, "3"):
        answer = client.patch(f"/api/schools/{school.id}", json={"alert_streak_days": bad})
        assert answer.status_code == 422 and "alert_streak_days" in answer.json["errors"], bad


def test_rekey_rotates_the_storage_key_and_secrets_still_sign(
    app, client, make_school, runner, db, monkeypatch
):
    school = make_school()
    hook = client.post(
        "/api/webhooks", json={"url": URL, "event_types": FEVER, "school_id": school.id}
    ).json["data"]
    before = db.session.scalar(select(Webhook.secret_encrypted))
    new_key = "a-new-key-for-webhook-secrets-0123456789"
    monkeypatch.setitem(app.config, "WEBHOOK_SECRET_KEY", [new_key, app.config["SECRET_KEY"]])
    result = runner.invoke(args=["webhooks", "rekey"])
    assert result.exit_code == 0 and "re-encrypted 1" in result.output
    db.session.expire_all()
    after = db.session.scalar(select(Webhook.secret_encrypted))
    assert after != before
    monkeypatch.setitem(app.config, "WEBHOOK_SECRET_KEY", new_key)
    assert secrets.decrypt(after) == hook["secret"]  # the old key is no longer needed
    # Under a key that never encrypted it, a stored secret is unreadable, not a crash.
    monkeypatch.setitem(app.config, "WEBHOOK_SECRET_KEY", "yet-another-key")
    with pytest.raises(secrets.SecretUnreadable):
        secrets.decrypt(after)
