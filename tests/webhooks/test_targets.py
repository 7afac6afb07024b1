"""SSRF: in production a webhook may not reach the service's own network, at creation or later."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from attendance import create_app
from attendance.extensions import db as _db
from attendance.services.webhooks import targets

from ..conftest import event_body
from ..receiver import running_receiver

INTERNAL = [
    "https://127.0.0.1/x",
    "https://localhost/x",
    "https://api.localhost/x",
    "https://10.1.2.3/x",
    "https://192.168.0.10/x",
    "https://172.16.5.5/x",
    "https://169.254.169.254/latest/meta-data",  # cloud metadata (link-local)
    "https://[fd00:ec2::254]/",  # AWS's IPv6 metadata address (unique local)
    "https://100.100.100.200/",  # shared address space (a cloud's metadata)
    "https://0.0.0.0/x",
    "https://[::]/x",
    "https://[::1]/x",
    "https://[::ffff:127.0.0.1]/x",
    "https://224.0.0.1/x",
    "https://2130706433/x",  # 127.0.0.1, written as one number
    "https://0x7f.1/x",
]


@pytest.fixture
def production(app_config: dict[str, Any]):
    """A production app with no allowed networks: what a deployment runs."""
    app = create_app({**app_config, "ATTENDANCE_ENV": "production", "WEBHOOK_ALLOW_NETWORKS": None})
    yield app
    with app.app_context():
        for engine in _db.engines.values():
            engine.dispose()


def production_client(production, make_token):
    c = production.test_client()
    c.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {make_token('district')}"
    return c


@pytest.mark.parametrize("url", INTERNAL)
def test_internal_targets_are_refused_at_creation(production, make_token, db, url):
    answer = production_client(production, make_token).post(
        "/api/webhooks", json={"url": url, "event_types": ["attendance.fever"]}
    )
    assert answer.status_code == 422
    assert list(answer.json["errors"]) == ["url"]


def test_names_resolving_inside_are_refused(production, make_token, db, monkeypatch):
    def resolver(host, port, *args, **kwargs):
        address = {"inside.example": "10.0.0.7", "mixed.example": "93.184.216.34"}[host]
        found = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]
        if host == "mixed.example":  # one public answer and one private: refused
            found.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port)))
        return found

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    c = production_client(production, make_token)
    for url in ("https://inside.example/x", "https://mixed.example/x"):
        answer = c.post("/api/webhooks", json={"url": url, "event_types": ["attendance.fever"]})
        assert answer.status_code == 422, url


def test_plain_http_needs_an_allowed_network(app_config, make_token, db, monkeypatch):
    monkeypatch.setattr(
        socket,
        "getaddrinfo",
        lambda host, port, *a, **k: [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port))
        ],
    )
    public = create_app(
        {**app_config, "ATTENDANCE_ENV": "production", "WEBHOOK_ALLOW_NETWORKS": ""}
    )
    with public.app_context():
        assert targets.resolve("https://receiver.example/x").address == "93.184.216.34"
        with pytest.raises(targets.Refused):
            targets.resolve("http://receiver.example/x")
    onprem = create_app(
        {**app_config, "ATTENDANCE_ENV": "production", "WEBHOOK_ALLOW_NETWORKS": "10.0.0.0/8"}
    )
    with onprem.app_context():
        assert targets.resolve("http://10.9.8.7:8080/in").address == "10.9.8.7"
        with pytest.raises(targets.Refused):
            targets.resolve("http://192.168.1.1/in")
    for app in (public, onprem):
        with app.app_context():
            for engine in _db.engines.values():
                engine.dispose()


def test_development_allows_loopback_unless_told_otherwise(app_config):
    dev = create_app(
        {**app_config, "ATTENDANCE_ENV": "development", "WEBHOOK_ALLOW_NETWORKS": None}
    )
    with dev.app_context():
        assert targets.resolve("http://127.0.0.1:8000/").address == "127.0.0.1"
    closed = create_app(
        {**app_config, "ATTENDANCE_ENV": "development", "WEBHOOK_ALLOW_NETWORKS": []}
    )
    with closed.app_context():
        with pytest.raises(targets.Refused):
            targets.resolve("http://127.0.0.1:8000/")


def test_the_address_is_checked_again_at_delivery(client, make_user, db, monkeypatch):
    """A name that resolved to an allowed address at creation and to a private one later is
    not connected to: the try fails as refused, and the receiver gets nothing."""
    user = make_user()
    with running_receiver() as receiver:
        port = receiver.url.split(":")[2].split("/")[0]
        answers = {"now": "127.0.0.1"}
        real = socket.getaddrinfo

        def resolver(host, p, *args, **kwargs):
            if host == "rebind.test":
                return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answers["now"], p))]
            return real(host, p, *args, **kwargs)

        monkeypatch.setattr(socket, "getaddrinfo", resolver)
        hook = client.post(
            "/api/webhooks",
            json={
                "url": f"http://rebind.test:{port}/hooks",
                "event_types": ["attendance.fever"],
                "school_id": user.school_id,
            },
        ).json["data"]
        answers["now"] = "169.254.169.254"
        client.post("/api/attendances", json=event_body(user, temperature=39))
        [row] = client.get(f"/api/webhooks/{hook['id']}/deliveries").json["data"]
        assert receiver.received == []
    assert row["status"] == "pending" and row["last_error"].startswith("refused")
