"""Tiny real images for the tests."""

from __future__ import annotations

import base64
import struct
import zlib


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


# The start of a JPEG file (SOI, APP0/JFIF); the service checks content by its magic bytes.
JPEG = (
    b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    + b"\x00" * 64
    + (b"\xff\xd9")
)


def data_uri(content: bytes, mimetype: str = "image/png") -> str:
    return f"data:{mimetype};base64," + base64.b64encode(content).decode()
