"""MAX_CONTENT_LENGTH holds for chunked bodies (no Content-Length) too, on a real server.

Werkzeug's test client sends bodies with a length, so this talks HTTP/1.1 to a server on
a loopback port: the same werkzeug server as `flask serve`, which (like gunicorn) decodes
the chunks and tells the app the stream ends by itself.
"""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from werkzeug.serving import make_server

from tests.conftest import event_body

MIB = 1024 * 1024


@pytest.fixture
def server(app, db) -> Iterator[int]:
    """The test app on a free loopback port; yields the port."""
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, name="chunked-server", daemon=True)
    thread.start()
    yield httpd.server_port
    httpd.shutdown()
    thread.join(timeout=10)
    httpd.server_close()


def post_chunked(port: int, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    """POST `body` in 64 KiB chunks without a Content-Length; the status and the body."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.putrequest("POST", path)
    for name, value in {**headers, "Transfer-Encoding": "chunked"}.items():
        conn.putheader(name, value)
    conn.endheaders()
    try:
        for start in range(0, len(body), 64 * 1024):
            chunk = body[start : start + 64 * 1024]
            conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        conn.send(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server may answer and close before the whole body is sent
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, data


def padded_event(user, size: int) -> bytes:
    """A check-in whose JSON is about `size` bytes (an over-long client_event_id pads it)."""
    return json.dumps(event_body(user, client_event_id="x" * size)).encode()


def test_a_chunked_body_over_the_limit_is_413(server, app, make_user, make_token):
    assert app.config["MAX_CONTENT_LENGTH"] < 3 * MIB
    headers = {
        "Authorization": f"Bearer {make_token('district')}",
        "Content-Type": "application/json",
    }
    status, data = post_chunked(
        server, "/api/attendances", padded_event(make_user(), 3 * MIB), headers
    )
    assert status == 413, data[:200]
    assert json.loads(data) == {"errors": {"detail": "Request Entity Too Large"}}


def test_a_chunked_form_over_the_limit_is_413(server):
    body = b"email=a%40b.example&password=" + b"x" * (3 * MIB)
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "text/html"}
    status, data = post_chunked(server, "/dashboard/login", body, headers)
    assert status == 413 and b"<html" in data


def test_a_chunked_body_within_the_limit_is_read_whole(server, make_user, make_token):
    user = make_user()
    headers = {
        "Authorization": f"Bearer {make_token('district')}",
        "Content-Type": "application/json",
    }
    status, data = post_chunked(server, "/api/attendances", padded_event(user, 150), headers)
    assert status == 201, data[:200]
    assert json.loads(data)["data"]["client_event_id"] == "x" * 150
    # Just under the limit: read in full, so the answer is about the field, not the body.
    status, data = post_chunked(
        server, "/api/attendances", padded_event(user, 2 * MIB - 200), headers
    )
    assert status == 422 and "client_event_id" in json.loads(data)["errors"]


def test_bulk_keeps_its_larger_limit_for_chunked_bodies(server, make_user, make_token):
    user = make_user()
    events = [event_body(user, client_event_id=f"{i}-" + "x" * 150) for i in range(20_000)]
    body = json.dumps({"attendances": events}).encode()
    assert 3 * MIB < len(body) < 32 * MIB
    headers = {
        "Authorization": f"Bearer {make_token('district')}",
        "Content-Type": "application/json",
    }
    status, data = post_chunked(server, "/api/attendances/bulk", body, headers)
    # Read whole (not cut off at 2 MiB, not 413): the schema's answer on the item count.
    assert status == 422, data[:200]
    assert "attendances" in json.loads(data)["errors"]
