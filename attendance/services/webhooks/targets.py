"""Where webhooks may go: public addresses over https, and the operator's allowed networks.

A URL is checked when a subscription is made (422 naming `url`) and again at every try,
on the addresses its host resolves to then (DNS can change): every address must be
allowed, and the try connects to the address checked, never resolving again (a rebinding
DNS server cannot slip another one in between). WEBHOOK_ALLOW_NETWORKS lets chosen
networks through (an on-premise receiver); for those, plain http:// is accepted too.
Development mode, unless the setting says otherwise, allows loopback.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from flask import current_app

from ...security import addresses
from .. import ServiceError

MAX_URL = 2048
LOOPBACK = ("127.0.0.0/8", "::1/128")
URL_ERROR = "must be an https:// URL (http:// only for networks in WEBHOOK_ALLOW_NETWORKS)"
REFUSED = "must not resolve to a loopback, private, link-local or reserved address"


class Refused(Exception):
    """A target this service will not connect to (the message says why)."""


@dataclass(frozen=True)
class Target:
    """A checked destination: the URL's parts and the one address to connect to."""

    scheme: str
    host: str
    port: int
    path: str
    address: str


def allowed_networks(config: Any) -> list[addresses.Network]:
    """WEBHOOK_ALLOW_NETWORKS as networks (None: loopback in development, none in production)."""
    value = config.get("WEBHOOK_ALLOW_NETWORKS")
    if value is None:
        value = LOOPBACK if config.get("ATTENDANCE_ENV") == "development" else ()
    return addresses.networks(value)


def _allowed(address: addresses.Address, networks: list[addresses.Network]) -> tuple[bool, bool]:
    """(may connect, is in an allowed network)."""
    listed = addresses.in_networks(address, networks)
    return listed or addresses.is_public(address), listed


def _parts(url: str) -> tuple[str, str, int, str]:
    if not isinstance(url, str) or len(url) > MAX_URL:
        raise Refused(f"must be at most {MAX_URL} characters")
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise Refused(URL_ERROR)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise Refused(URL_ERROR) from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise Refused(URL_ERROR)
    if parts.username is not None or parts.password is not None:
        raise Refused("must not carry a user name or password")
    if parts.fragment:
        raise Refused("must not have a #fragment")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80), path


def resolve(url: str) -> Target:
    """The URL checked against the rules now, with the address to connect to; or Refused."""
    scheme, host, port, path = _parts(url)
    networks = allowed_networks(current_app.config)
    literal = addresses.ip_literal(host)
    if literal is not None:
        found = [str(literal)]
    else:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as error:
            raise Refused(f"its host does not resolve ({type(error).__name__})") from None
        found = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not found:
        raise Refused("its host does not resolve")
    listed_all = True
    for text in found:
        address = addresses.ip_literal(text.split("%")[0])
        if address is None:
            raise Refused(REFUSED)
        may, listed = _allowed(address, networks)
        if not may:
            raise Refused(REFUSED)
        listed_all = listed_all and listed
    if scheme != "https" and not listed_all:
        raise Refused(URL_ERROR)
    return Target(scheme, host, port, path, found[0])


def check_url(url: str) -> str:
    """A subscription's URL, or a ServiceError naming `url` (422)."""
    try:
        resolve(url)
    except Refused as error:
        raise ServiceError("url", str(error)) from None
    return url
