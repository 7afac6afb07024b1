"""Attendance photos: data URIs checked by content and stored by hash, or https URLs.

A stored photo is a file named by the SHA-256 of its bytes under IMAGE_STORAGE_DIR; the
record keeps `sha256:<hex>` and the API shows the URL that serves it to admins.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import os
import re
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import Response, current_app, send_file, url_for
from flask_smorest import abort
from marshmallow import ValidationError, fields
from PIL import Image

from .addresses import INTERNAL_HOST_ERROR, internal_host

MAX_BYTES = 1024 * 1024
MAX_URL = 2048
REFERENCE = re.compile(r"^sha256:([0-9a-f]{64})$")
DATA_URI = re.compile(r"^data:image/(jpeg|png);base64,", re.IGNORECASE)
WHITESPACE = re.compile(r"[ \t\r\n]+")
# A data URI of MAX_BYTES: base64 grows by 4/3, plus the header.
MAX_DATA_URI = 32 + 4 * ((MAX_BYTES + 2) // 3)
SIGNATURES = {b"\xff\xd8\xff": "image/jpeg", b"\x89PNG\r\n\x1a\n": "image/png"}
URL_ERROR = "must be a data:image/jpeg or data:image/png base64 URI, or an https:// URL"
NOT_AN_IMAGE = "is not a JPEG or PNG image"
# A gate camera's photo is a few hundred pixels a side; these leave room for any phone's.
MAX_SIDE = 10_000
MAX_PIXELS = 40_000_000
FORMATS = ("JPEG", "PNG")


@dataclass(frozen=True)
class Upload:
    """A photo sent inline, checked and ready to store."""

    content: bytes

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


def sniff(content: bytes) -> str | None:
    """The image type by its magic bytes (JPEG or PNG), or None."""
    for magic, mimetype in SIGNATURES.items():
        if content.startswith(magic):
            return mimetype
    return None


def parse(value: str) -> Upload | str:
    """An inline photo or an https URL; raises ValidationError for anything else."""
    match = DATA_URI.match(value)
    if match:
        # Many encoders wrap base64 at 76 columns; the line breaks carry nothing.
        payload = WHITESPACE.sub("", value[match.end() :])
        if match.end() + len(payload) > MAX_DATA_URI:
            raise ValidationError("must be at most 1 MB")
        try:
            content = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            raise ValidationError("is not valid base64") from None
        if len(content) > MAX_BYTES:
            raise ValidationError("must be at most 1 MB")
        check_image(content)
        return Upload(content)
    if value.startswith("https://"):
        return _https_url(value)
    raise ValidationError(URL_ERROR)


def check_image(content: bytes) -> None:
    """Refuse what does not decode as a JPEG or PNG of sane dimensions.

    Pillow reads the header (`open`) and checks the file's structure (`verify`: chunk
    checksums for PNG) without decoding the pixels, so a 1 MB file that declares a huge
    image costs nothing; that size is refused before anything else is read.
    """
    if sniff(content) is None:
        raise ValidationError(NOT_AN_IMAGE)
    with warnings.catch_warnings():
        # Pillow warns of (and past twice its limit refuses) "decompression bombs".
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(content), formats=FORMATS) as image:
                width, height = image.size
                if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE) or (
                    width * height > MAX_PIXELS
                ):
                    raise ValidationError(_too_large(width, height))
                image.verify()
        except ValidationError:
            raise
        except (Image.DecompressionBombWarning, Image.DecompressionBombError):
            raise ValidationError(f"must be at most {MAX_PIXELS:,} pixels") from None
        except Exception:  # crafted files make Pillow raise any of a dozen kinds of error
            raise ValidationError(NOT_AN_IMAGE) from None


def _too_large(width: int, height: int) -> str:
    return f"is {width}x{height} pixels: at most {MAX_SIDE:,} a side and {MAX_PIXELS:,} in all"


def _https_url(value: str) -> str:
    if len(value) > MAX_URL:
        raise ValidationError(f"must be at most {MAX_URL} characters")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise ValidationError(URL_ERROR) from None
    if (
        parts.scheme != "https"
        or not parts.hostname
        or parts.username is not None
        or parts.password is not None
        or any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in value)
    ):
        raise ValidationError(URL_ERROR)
    if internal_host(parts.hostname):
        raise ValidationError(INTERNAL_HOST_ERROR)
    if parts.port not in (None, 443):  # another port: more likely a service than a photo
        raise ValidationError("must use the default https port (443)")
    return value


def storage_dir() -> Path:
    """Where stored photos live (IMAGE_STORAGE_DIR, default instance/images)."""
    configured = current_app.config.get("IMAGE_STORAGE_DIR")
    return Path(configured or os.path.join(current_app.instance_path, "images"))


def _path(digest: str) -> Path:
    return storage_dir() / digest[:2] / digest


def save(upload: Upload) -> str:
    """Store a photo (once per content) and return the reference the record keeps."""
    digest = upload.digest
    path = _path(digest)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write aside and rename, so a reader never sees half a file.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(upload.content)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return f"sha256:{digest}"


def to_stored(value: Upload | str | None) -> str | None:
    """What an attendance record keeps: a reference for an inline photo, else the value."""
    return save(value) if isinstance(value, Upload) else value


def reference(value: Upload | str | None) -> str | None:
    """What `to_stored` will return, without writing anything yet."""
    return f"sha256:{value.digest}" if isinstance(value, Upload) else value


def send(reference: str | None) -> Response:
    """The stored photo as a response, or 404 (none, an https URL, or a missing file)."""
    match = REFERENCE.match(reference or "")
    if match is None:
        abort(404, errors={"detail": "this event has no stored image"})
        raise AssertionError  # abort raises; this line tells type checkers
    try:
        # At most 1 MB: read whole, so no file handle outlives the request.
        content = _path(match.group(1)).read_bytes()
    except FileNotFoundError:
        abort(404, errors={"detail": "this event has no stored image"})
        raise AssertionError from None
    response = send_file(
        io.BytesIO(content),
        mimetype=sniff(content) or "application/octet-stream",
        etag=match.group(1),
        max_age=3600,
    )
    # Photos of children: the browser may keep them, shared caches may not.
    response.cache_control.private = True
    response.cache_control.public = False
    return response


class ImageInput(fields.String):
    """The `image` field of a request: a data URI or an https URL (or null)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault(
            "metadata",
            {
                "description": "data:image/jpeg or data:image/png base64 URI (at most 1 MB "
                "decoded, checked by content), or an https:// URL (at most 2048 characters)",
                "maxLength": MAX_DATA_URI,
            },
        )
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        return parse(super()._deserialize(value, attr, data, **kwargs))


class ImageOutput(fields.String):
    """The `image` field of a response: where to fetch the photo (or the https URL sent)."""

    def __init__(self, endpoint: str, **kwargs: Any) -> None:
        kwargs.setdefault("allow_none", True)
        super().__init__(**kwargs)
        self.endpoint = endpoint

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        if isinstance(value, str) and REFERENCE.match(value):
            return url_for(self.endpoint, attendance_id=obj.id, _external=True)
        if isinstance(value, str) and value.startswith("https://"):
            return value
        return None  # no photo, or a legacy value that is neither
