"""Signing secrets: made, shown once, stored encrypted; and the Standard Webhooks signature.

A secret is `whsec_` + base64 of 32 random bytes; HMAC-SHA256 is keyed with those bytes.
Stored secrets are encrypted with Fernet under WEBHOOK_SECRET_KEY (or a key derived from
SECRET_KEY), so a database dump does not reveal them. Several keys may be given: the first
encrypts, each decrypts (key rotation; `flask webhooks rekey` re-encrypts with the first).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets as random
from typing import Any

from flask import current_app

PREFIX = "whsec_"
SECRET_BYTES = 32


class SecretUnreadable(Exception):
    """A stored secret that no configured key decrypts (the key was changed or lost)."""


def new_secret() -> str:
    """A fresh signing secret."""
    return PREFIX + base64.b64encode(random.token_bytes(SECRET_BYTES)).decode()


def key_bytes(secret: str) -> bytes:
    """The HMAC key a secret stands for: its base64 part, decoded."""
    return base64.b64decode(secret.removeprefix(PREFIX))


def signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header: `v1,` + base64 HMAC-SHA256 of `id.timestamp.body`."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(key_bytes(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def _fernet_key(material: str) -> bytes:
    # A Fernet key is 32 url-safe base64 bytes; any configured text is hashed into one, with a
    # label, so the key is not SECRET_KEY itself (which also signs the dashboard's sessions).
    digest = hashlib.sha256(b"attendance webhook secrets\0" + material.encode()).digest()
    return base64.urlsafe_b64encode(digest)


def _keys(config: Any) -> list[str]:
    value = config.get("WEBHOOK_SECRET_KEY")
    if not value:
        return [str(config["SECRET_KEY"])]
    if isinstance(value, str):
        return [k.strip() for k in value.split(",") if k.strip()]
    return [str(k) for k in value]


def _cipher() -> Any:
    from cryptography.fernet import Fernet, MultiFernet

    return MultiFernet([Fernet(_fernet_key(k)) for k in _keys(current_app.config)])


def encrypt(secret: str) -> str:
    """The stored form of a secret (with the first key)."""
    return str(_cipher().encrypt(secret.encode()).decode())


def decrypt(stored: str) -> str:
    """The secret of a stored form, or SecretUnreadable."""
    from cryptography.fernet import InvalidToken

    try:
        return str(_cipher().decrypt(stored.encode()).decode())
    except InvalidToken:
        raise SecretUnreadable("no WEBHOOK_SECRET_KEY decrypts this secret") from None


def reencrypt(stored: str) -> str:
    """The stored form again, encrypted with the first key (rotation)."""
    from cryptography.fernet import InvalidToken

    try:
        return str(_cipher().rotate(stored.encode()).decode())
    except InvalidToken:
        raise SecretUnreadable("no WEBHOOK_SECRET_KEY decrypts this secret") from None
