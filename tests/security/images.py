"""Tiny real images for the tests."""

from __future__ import annotations

import base64
import io
import struct
import zlib

from PIL import Image


def png(width: int = 1, height: int = 1, seed: int = 0) -> bytes:
    """A valid RGB PNG; `seed` varies the pixels, so the content hash varies."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    row = b"\x00" + bytes((seed + i) % 256 for i in range(3 * width))
    raw = row * height
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def jpeg(width: int = 2, height: int = 2) -> bytes:
    """A valid baseline JPEG."""
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 120, 40)).save(out, "JPEG")
    return out.getvalue()


JPEG = jpeg()


def data_uri(content: bytes, mimetype: str = "image/png") -> str:
    return f"data:{mimetype};base64," + base64.b64encode(content).decode()
