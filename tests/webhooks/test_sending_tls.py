"""HTTPS delivery to a pinned address: the certificate and SNI are the URL's host's.

A real TLS server on 127.0.0.1 with a certificate from a test CA. The target names a
host that does not resolve (`hooks.example.test`), pinned to 127.0.0.1: the try must
connect to the pinned address without resolving, send the URL's host as SNI and Host,
and check the certificate against that host, refusing one made out to another.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import http.server
import ipaddress
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from attendance.services.webhooks import sending
from attendance.services.webhooks.targets import Target

HOST = "hooks.example.test"


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _certificates(tmp: Path, san: str) -> tuple[Path, Path, Path]:
    """(CA certificate, server certificate, server key) files; the server's for `san`."""
    now = dt.datetime.now(dt.UTC)
    ca_key = _key()
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("attendance test CA"))
        .issuer_name(_name("attendance test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = _key()
    server = (
        x509.CertificateBuilder()
        .subject_name(_name(san))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(san)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_file, cert_file, key_file = tmp / "ca.pem", tmp / "server.pem", tmp / "server.key"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(server.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(_pem_key(key))
    return ca_file, cert_file, key_file


class _Seen:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.server_names: list[str | None] = []


@contextlib.contextmanager
def _serve(cert: Path, key: Path, seen: _Seen) -> Iterator[int]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            seen.requests.append({"host": self.headers.get("Host"), "body": body})
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)

    def remember(sock: ssl.SSLSocket, name: str | None, _: ssl.SSLContext) -> None:
        seen.server_names.append(name)

    context.sni_callback = remember
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def trust(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Make the sender trust a test CA (instead of the system's) for this test."""

    def use(ca_file: Path) -> None:
        real = ssl.create_default_context
        monkeypatch.setattr(
            sending.ssl, "create_default_context", lambda *a, **k: real(cafile=str(ca_file))
        )

    return use


def _target(port: int) -> Target:
    return Target(scheme="https", host=HOST, port=port, path="/hooks?x=1", address="127.0.0.1")


def test_https_goes_to_the_pinned_address_with_the_urls_host(tmp_path: Path, trust: Any) -> None:
    ca, cert, key = _certificates(tmp_path, HOST)
    trust(ca)
    seen = _Seen()
    with _serve(cert, key, seen) as port:
        answer = sending.post(_target(port), {"webhook-id": "msg_1"}, b'{"a":1}', timeout=5)
        assert answer == sending.Answer(204)
        assert answer.ok
    # HOST does not resolve: the try connected to the pinned address, and told the
    # server the URL's host in the TLS handshake and in the request.
    assert seen.server_names == [HOST]
    assert seen.requests == [{"host": f"{HOST}:{port}", "body": b'{"a":1}'}]


def test_a_certificate_for_another_host_is_refused(tmp_path: Path, trust: Any) -> None:
    ca, cert, key = _certificates(tmp_path, "someone-else.example.test")
    trust(ca)
    seen = _Seen()
    with _serve(cert, key, seen) as port:
        answer = sending.post(_target(port), {}, b"{}", timeout=5)
    assert answer.status is None and not answer.ok
    assert answer.error is not None and "certificate" in answer.error.lower()
    assert seen.requests == []


def test_an_untrusted_certificate_is_refused(tmp_path: Path) -> None:
    # The system's CAs (no test CA trusted): the test CA's certificate is not accepted.
    _, cert, key = _certificates(tmp_path, HOST)
    seen = _Seen()
    with _serve(cert, key, seen) as port:
        answer = sending.post(_target(port), {}, b"{}", timeout=5)
    assert answer.status is None
    assert answer.error is not None and "certificate" in answer.error.lower()
    assert seen.requests == []


def test_the_pinned_address_is_never_resolved_again(
    tmp_path: Path, trust: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rebinding resolver gets no say: the try does not call getaddrinfo for the host."""
    ca, cert, key = _certificates(tmp_path, HOST)
    trust(ca)
    asked: list[str] = []
    real = sending.socket.getaddrinfo

    def spy(host: Any, *args: Any, **kwargs: Any) -> Any:
        asked.append(str(host))
        return real(host, *args, **kwargs)

    monkeypatch.setattr(sending.socket, "getaddrinfo", spy)
    seen = _Seen()
    with _serve(cert, key, seen) as port:
        assert sending.post(_target(port), {}, b"{}", timeout=5).ok
    assert HOST not in asked
    assert all(ipaddress.ip_address(h) for h in asked)  # only the pinned literal, if any
