"""API keys: 256 random bits shown once; only a SHA-256 digest is stored.

A fast hash is right here: the key is a high-entropy random secret, not a password, so there is
nothing for a slow hash to protect against and every request can verify in microseconds.
"""

from __future__ import annotations

import hashlib
import secrets

KEY_PREFIX = "pk_"


def new_api_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()
