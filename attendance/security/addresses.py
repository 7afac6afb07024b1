"""Which network addresses are public: the one home of that rule.

Photo URLs (attendance.security.images) and webhook targets (attendance.services.webhooks)
must not send anyone into the service's own network: loopback, private, link-local
(cloud metadata), shared, reserved, unspecified and multicast addresses are not public.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from typing import Any

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# NAT64's well-known prefix: its last 32 bits are an IPv4 address.
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
INTERNAL_HOST_ERROR = "must not name localhost or a private, loopback or reserved address"


def unwrapped(address: Address) -> Address:
    """The IPv4 address an IPv6 form carries (mapped, 6to4, NAT64), else the address."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.sixtofour is not None:
            return address.sixtofour
        if address in NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def is_public(address: Address) -> bool:
    """True for an address of the public internet (unicast and global)."""
    address = unwrapped(address)
    return address.is_global and not address.is_multicast


def ip_literal(host: str) -> Address | None:
    """The address a host names literally (an embedded IPv4 one for IPv6 forms), or None."""
    address: Address
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        try:  # the loose forms resolvers accept: 127.1, 0x7f.0.0.1, 2130706433
            address = ipaddress.IPv4Address(socket.inet_aton(host))
        except (OSError, UnicodeError, ValueError):
            return None
    return unwrapped(address)


def is_localhost_name(host: str) -> bool:
    """True for `localhost` and its subdomains (resolvers answer them with loopback)."""
    host = host.rstrip(".").lower()
    return host == "localhost" or host.endswith(".localhost")


def internal_host(host: str) -> bool:
    """Whether a URL's host is localhost or an IP literal outside the public internet.

    Names are not resolved here (that is the fetcher's business, at connect time);
    literals are, in every form a resolver takes for one.
    """
    host = host.rstrip(".")
    if is_localhost_name(host):
        return True
    address = ip_literal(host)
    return address is not None and not is_public(address)


def networks(value: Any) -> list[Network]:
    """CIDR networks from a setting: a list, or one string with commas (empty: none)."""
    items: Iterable[Any] = value.split(",") if isinstance(value, str) else (value or ())
    return [
        ipaddress.ip_network(str(item).strip(), strict=False) for item in items if str(item).strip()
    ]


def in_networks(address: Address, allowed: Iterable[Network]) -> bool:
    """True when the address (or the IPv4 one it carries) is in one of the networks."""
    forms = {address, unwrapped(address)}
    return any(a.version == n.version and a in n for a in forms for n in allowed)
