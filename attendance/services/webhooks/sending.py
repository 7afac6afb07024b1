"""One HTTP try: POST the body to the checked address, with the URL's host for Host and TLS.

http.client follows no redirects; the timeout bounds the connection and each read. The
answer's body is not read past a few kilobytes: only its status matters.
"""

from __future__ import annotations

import http.client
import socket
import ssl
from dataclasses import dataclass

from .targets import Target

USER_AGENT = "attendance-webhooks/1"
MAX_ANSWER = 4096


@dataclass(frozen=True)
class Answer:
    """What a try got: an HTTP status, or an error (a network failure, a timeout)."""

    status: int | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """2xx: delivered."""
        return self.status is not None and 200 <= self.status < 300


class _PinnedHTTP(http.client.HTTPConnection):
    """HTTP to one address, with the URL's host in the Host header."""

    def __init__(self, target: Target, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self.address = target.address

    def connect(self) -> None:
        self.sock = socket.create_connection((self.address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    """HTTPS to one address; the certificate is checked against the URL's host (SNI too)."""

    def __init__(self, target: Target, timeout: float) -> None:
        super().__init__(
            target.host, target.port, timeout=timeout, context=ssl.create_default_context()
        )
        self.address = target.address

    def connect(self) -> None:
        raw = socket.create_connection((self.address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(raw, server_hostname=self.host)  # type: ignore[attr-defined]


def post(target: Target, headers: dict[str, str], body: bytes, timeout: float) -> Answer:
    """POST once; never raises for what the network or the receiver does."""
    factory = _PinnedHTTPS if target.scheme == "https" else _PinnedHTTP
    connection = factory(target, timeout)
    try:
        connection.request(
            "POST",
            target.path,
            body=body,
            headers={
                **headers,
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
            },
        )
        response = connection.getresponse()
        response.read(MAX_ANSWER)
        return Answer(response.status)
    except (OSError, http.client.HTTPException) as error:
        return Answer(None, f"{type(error).__name__}: {error}"[:200])
    finally:
        connection.close()
