"""A real HTTP receiver for webhook tests, and an independent Standard Webhooks verifier.

The verifier is written from the specification, not from attendance's code: the secret's
base64 part (after `whsec_`) is the HMAC-SHA256 key; the signed content is
`{webhook-id}.{webhook-timestamp}.{body}`; `webhook-signature` is a space-separated list of
`v1,<base64>` signatures, one of which must match (compared in constant time).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def verify(
    secret: str, headers: dict[str, str], body: bytes, tolerance: int | None = 300
) -> dict[str, Any]:
    """The payload of a genuine delivery; AssertionError otherwise (`tolerance` None: the
    sender's clock is a test's, so the timestamp's age is not checked)."""
    msg_id = headers["webhook-id"]
    stamp = headers["webhook-timestamp"]
    if tolerance is not None:
        assert abs(int(time.time()) - int(stamp)) <= tolerance, "timestamp too far off"
    key = base64.b64decode(secret.split("_", 1)[1])
    content = msg_id.encode() + b"." + stamp.encode() + b"." + body
    expected = base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()
    candidates = [
        s.split(",", 1)[1] for s in headers["webhook-signature"].split() if s.startswith("v1,")
    ]
    assert any(hmac.compare_digest(expected, c) for c in candidates), "bad signature"
    return json.loads(body)


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    path: str


@dataclass
class Receiver:
    """Records every POST; answers the statuses in `script` in turn, then `default`."""

    url: str = ""
    script: list[int] = field(default_factory=list)
    default: int = 200
    headers_out: dict[str, str] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def wait_for(self, count: int, seconds: float = 60.0) -> list[Received]:
        """The requests once `count` have arrived (or the seconds are up)."""
        deadline = time.monotonic() + seconds
        with self.arrived:
            while len(self.received) < count and time.monotonic() < deadline:
                self.arrived.wait(max(0.0, deadline - time.monotonic()))
        return list(self.received)


@contextmanager
def running_receiver(**kwargs: Any) -> Iterator[Receiver]:
    """A receiver on 127.0.0.1, on a free port, for the block's duration."""
    receiver = Receiver(**kwargs)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with receiver.lock:
                status = receiver.script.pop(0) if receiver.script else receiver.default
            with receiver.arrived:
                receiver.received.append(
                    Received({k.lower(): v for k, v in self.headers.items()}, body, self.path)
                )
                receiver.arrived.notify_all()
            self.send_response(status)
            for name, value in receiver.headers_out.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    receiver.url = f"http://127.0.0.1:{server.server_port}/hooks"
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
