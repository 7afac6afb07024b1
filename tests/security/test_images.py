"""Photos: data URIs checked by content, stored by hash outside the database; https URLs."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest

from attendance.models import Attendance
from tests.conftest import event_body as event

from .images import JPEG, data_uri, png


def stored_path(app, digest: str) -> Path:
    return Path(app.config["IMAGE_STORAGE_DIR"]) / digest[:2] / digest


@pytest.mark.parametrize(("content", "mimetype"), [(png(), "image/png"), (JPEG, "image/jpeg")])
def test_data_uri_is_stored_by_hash_and_served(app, client, db, make_user, content, mimetype):
    user = make_user()
    resp = client.post("/api/attendances", json=event(user, image=data_uri(content, mimetype)))
    assert resp.status_code == 201, resp.json
    data = resp.json["data"]
    image_url = f"http://localhost/api/attendances/{data['id']}/image"
    assert data["image"] == image_url
    digest = hashlib.sha256(content).hexdigest()
    assert db.session.get(Attendance, data["id"]).image == f"sha256:{digest}"
    assert stored_path(app, digest).read_bytes() == content
    served = client.get(image_url)
    assert served.status_code == 200
    assert served.mimetype == mimetype
    assert served.data == content
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    assert "private" in served.headers["Cache-Control"]
    assert client.get(f"/api/attendances/{data['id']}").json["data"]["image"] == image_url


def test_the_type_comes_from_the_content_not_the_label(client, make_user):
    user = make_user()
    resp = client.post("/api/attendances", json=event(user, image=data_uri(png(), "image/jpeg")))
    assert resp.status_code == 201
    assert client.get(resp.json["data"]["image"]).mimetype == "image/png"


def test_wrapped_base64_is_accepted(client, make_user):
    header, payload = data_uri(png(4, 4)).split(",", 1)
    wrapped = header + "," + "\r\n".join(payload[i : i + 76] for i in range(0, len(payload), 76))
    resp = client.post("/api/attendances", json=event(make_user(), image=wrapped))
    assert resp.status_code == 201, resp.json


def test_same_photo_is_stored_once(app, client, make_user):
    user = make_user()
    uri = data_uri(png(seed=7))
    for _ in range(2):
        assert client.post("/api/attendances", json=event(user, image=uri)).status_code == 201
    digest = hashlib.sha256(png(seed=7)).hexdigest()
    assert [p.name for p in stored_path(app, digest).parent.iterdir()] == [digest]


def test_a_photo_of_exactly_1_mb_is_accepted(client, make_user):
    content = png() + b"\x00" * (1024 * 1024 - len(png()))
    resp = client.post("/api/attendances", json=event(make_user(), image=data_uri(content)))
    assert resp.status_code == 201, resp.json


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (data_uri(png() + b"\x00" * (1024 * 1024)), "at most 1 MB"),
        (data_uri(b"GIF89a" + b"\x00" * 20, "image/png"), "not a JPEG or PNG"),
        (data_uri(b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/png"), "not a JPEG or PNG"),
        ("data:image/png;base64,%%%notbase64", "not valid base64"),
        ("data:image/gif;base64," + base64.b64encode(b"GIF89a").decode(), "data:image/jpeg"),
        ("data:text/html;base64,PHNjcmlwdD4=", "data:image/jpeg"),
        ("data:image/png," + "rawbytes", "data:image/jpeg"),
        ("http://example.org/photo.jpg", "https://"),
        ("javascript:alert(1)", "https://"),
        ("//example.org/photo.jpg", "https://"),
        ("https://", "https://"),
        ("https://user:pass@example.org/p.jpg", "https://"),
        ("https://example.org/a b.jpg", "https://"),
        ("https://example.org:99999/p.jpg", "https://"),
        ("https://example.org/" + "p" * 2100, "2048"),
        ("just some text", "https://"),
        ("", "https://"),
    ],
)
def test_anything_else_is_422_on_the_image_field(client, make_user, image, message):
    resp = client.post("/api/attendances", json=event(make_user(), image=image))
    assert resp.status_code == 422, resp.json
    assert any(message in m for m in resp.json["errors"]["image"]), resp.json


def test_https_url_is_kept_and_shown_as_sent(client, make_user):
    url = "https://cdn.example.org/gate/2026/11/23/ann.jpg?sig=abc"
    resp = client.post("/api/attendances", json=event(make_user(), image=url))
    assert resp.status_code == 201
    assert resp.json["data"]["image"] == url
    # Only stored photos are served here.
    assert client.get(f"/api/attendances/{resp.json['data']['id']}/image").status_code == 404


def test_no_image_is_null_and_has_nothing_to_serve(client, make_user):
    resp = client.post("/api/attendances", json=event(make_user(), image=None))
    assert resp.json["data"]["image"] is None
    assert client.get(f"/api/attendances/{resp.json['data']['id']}/image").status_code == 404


def test_legacy_values_are_not_echoed(client, make_event):
    event_row = make_event(image="javascript:alert(1)")
    assert client.get(f"/api/attendances/{event_row.id}").json["data"]["image"] is None


def test_missing_file_is_404_not_500(app, client, make_event):
    event_row = make_event(image="sha256:" + "0" * 64)
    assert client.get(f"/api/attendances/{event_row.id}/image").status_code == 404


def test_only_admins_of_the_school_get_the_photo(client, client_as, make_school, make_user):
    user = make_user()
    resp = client.post("/api/attendances", json=event(user, image=data_uri(png())))
    url = resp.json["data"]["image"]
    assert client_as("school", user.school_id).get(url).status_code == 200
    assert client_as("school", make_school()).get(url).status_code == 404
    assert client_as("device", user.school_id).get(url).status_code == 403
