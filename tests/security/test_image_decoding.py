"""Photos are decoded (Pillow reads the header and checks the structure), not sniffed.

Magic bytes alone let `\x89PNG...<html>` and a bare `\xff\xd8\xff` be stored and served
as images; a header declaring a gigantic image (a decompression bomb) is refused unread.
"""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError
from PIL import Image

from attendance.models import Attendance
from attendance.security.images import MAX_SIDE, check_image
from tests.conftest import event_body

from .images import data_uri, jpeg, png


def png_declaring(width: int, height: int) -> bytes:
    """A PNG whose header declares this size (its pixel data is a token few bytes)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    chunks = chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + chunks


def gif() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (2, 2)).save(out, "GIF")
    return out.getvalue()


BAD = {
    "the probe's PNG signature then HTML": b"\x89PNG\r\n\x1a\n<html><script>alert(1)</script>",
    "a bare JPEG marker": b"\xff\xd8\xff",
    "a JPEG marker then HTML": b"\xff\xd8\xff<html></html>",
    "a PNG cut short": png(4, 4)[:40],
    "a PNG with a broken checksum": png(4, 4)[:29] + b"\x00\x00\x00\x00" + png(4, 4)[33:],
    "a GIF": gif(),
    "a JPEG header only": jpeg()[:20],
}


@pytest.mark.parametrize("content", BAD.values(), ids=BAD.keys())
def test_what_does_not_decode_is_refused(client, db, make_user, content):
    mimetype = "image/jpeg" if content.startswith(b"\xff") else "image/png"
    body = event_body(make_user(), image=data_uri(content, mimetype))
    resp = client.post("/api/attendances", json=body)
    assert resp.status_code == 422, resp.json
    assert resp.json["errors"]["image"] == ["is not a JPEG or PNG image"]
    assert db.session.query(Attendance).count() == 0


@pytest.mark.parametrize(
    ("width", "height"),
    [
        (MAX_SIDE + 1, 1),
        (1, MAX_SIDE + 1),
        (MAX_SIDE, MAX_SIDE),
        (2**31 - 1, 2**31 - 1),
        (100_000, 100_000),
    ],
)
def test_gigantic_images_are_refused_unread(width, height):
    with pytest.raises(ValidationError, match="pixels"):
        check_image(png_declaring(width, height))


def test_large_sane_images_decode(client, make_user):
    for content, mimetype in [(jpeg(640, 480), "image/jpeg"), (png(300, 200), "image/png")]:
        body = event_body(make_user(), image=data_uri(content, mimetype))
        resp = client.post("/api/attendances", json=body)
        assert resp.status_code == 201, resp.json
        assert client.get(resp.json["data"]["image"]).data == content


@settings(max_examples=300, deadline=None)
@given(
    prefix=st.sampled_from([b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", png(3, 3)[:33], jpeg()[:30]]),
    rest=st.binary(max_size=300),
)
def test_garbage_after_a_signature_never_passes_nor_crashes(prefix, rest):
    """Whatever follows a signature: a clean refusal (ValidationError), nothing else."""
    content = prefix + rest
    try:
        check_image(content)
    except ValidationError:
        return
    with Image.open(io.BytesIO(content)) as image:  # it passed: it must really be one
        assert image.format in ("JPEG", "PNG")


def test_no_decompression_bomb_warning_escapes(recwarn):
    with pytest.raises(ValidationError):
        check_image(png_declaring(20_000, 20_000))
    assert not [w for w in recwarn if issubclass(w.category, Image.DecompressionBombWarning)]
