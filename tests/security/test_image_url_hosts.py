"""Photo URLs may not point into the service's own network (the probe's https://127.0.0.1:5432/).

Refused: localhost (and *.localhost), IP literals that are not global unicast (loopback,
private, link-local, shared, reserved, multicast, unspecified), in every form a resolver
reads as one (127.1, 0x7f.0.0.1, 2130706433, IPv4-mapped and 6to4 IPv6), and any port
but 443. Host names are not resolved: that is for whoever fetches, at connect time.
"""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError

from attendance.security.images import parse
from tests.conftest import event_body

INTERNAL = [
    "https://127.0.0.1:5432/",
    "https://127.0.0.1/a.jpg",
    "https://localhost/a.jpg",
    "https://LOCALHOST./a.jpg",
    "https://db.localhost/a.jpg",
    "https://10.0.0.5/a.jpg",
    "https://192.168.1.1/a.jpg",
    "https://172.16.0.1/a.jpg",
    "https://169.254.169.254/latest/meta-data/",
    "https://100.64.0.1/a.jpg",
    "https://0.0.0.0/a.jpg",
    "https://224.0.0.1/a.jpg",
    "https://255.255.255.255/a.jpg",
    "https://127.1/a.jpg",
    "https://0x7f.0.0.1/a.jpg",
    "https://2130706433/a.jpg",
    "https://017700000001/a.jpg",
    "https://[::1]/a.jpg",
    "https://[::]/a.jpg",
    "https://[fe80::1%25eth0]/a.jpg",
    "https://[fc00::1]/a.jpg",
    "https://[::ffff:127.0.0.1]/a.jpg",
    "https://[::ffff:7f00:1]/a.jpg",
    "https://[2002:7f00:1::]/a.jpg",
    "https://[64:ff9b::a9fe:a9fe]/a.jpg",
    "https://[ff02::1]/a.jpg",
]


@pytest.mark.parametrize("url", INTERNAL)
def test_internal_hosts_are_refused(client, make_user, url):
    resp = client.post("/api/attendances", json=event_body(make_user(), image=url))
    assert resp.status_code == 422, resp.json
    assert resp.json["errors"]["image"] == [
        "must not name localhost or a private, loopback or reserved address"
    ]


@pytest.mark.parametrize("port", [8443, 80, 5432, 1])
def test_ports_other_than_443_are_refused(port):
    with pytest.raises(ValidationError, match="443"):
        parse(f"https://photos.example.org:{port}/a.jpg")


@pytest.mark.parametrize(
    "url",
    [
        "https://photos.example.org/a.jpg",
        "https://photos.example.org:443/a.jpg",
        "https://8.8.8.8/a.jpg",
        "https://[2606:4700::1111]/a.jpg",
        "https://1e100.net/a.jpg",
        "https://localhost.example.org/a.jpg",
    ],
)
def test_public_hosts_are_kept(url):
    assert parse(url) == url


ipv4 = st.integers(0, 2**32 - 1).map(ipaddress.IPv4Address)
ipv6 = st.integers(0, 2**128 - 1).map(ipaddress.IPv6Address)


def literal_forms(address: ipaddress.IPv4Address) -> list[str]:
    """The ways of writing an IPv4 address that resolvers (inet_aton) read."""
    a, b, c, d = address.packed
    return [
        str(address),
        str(int(address)),
        f"{a}.{(b << 16) | (c << 8) | d}",
        ".".join(hex(x) for x in (a, b, c, d)),
        f"[::ffff:{address}]",
    ]


@settings(max_examples=300)
@given(ipv4)
def test_every_form_of_an_ipv4_literal_is_judged_as_the_address(address):
    for host in literal_forms(address):
        url = f"https://{host}/p.jpg"
        if address.is_global and not address.is_multicast:
            assert parse(url) == url
        else:
            with pytest.raises(ValidationError):
                parse(url)


@settings(max_examples=300)
@given(ipv6)
def test_ipv6_literals_outside_the_public_internet_are_refused(address):
    embedded = address.ipv4_mapped or address.sixtofour
    if address in ipaddress.IPv6Network("64:ff9b::/96"):
        embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    judged = embedded or address
    url = f"https://[{address}]/p.jpg"
    if judged.is_global and not judged.is_multicast:
        assert parse(url) == url
    else:
        with pytest.raises(ValidationError):
            parse(url)
