"""Credyt's signature: ``Credyt-Signature: t=<unix seconds>,v0=<hex HMAC-SHA256(secret, "<t>.<raw body>")>``.

While a rotated-out secret is still valid (24 hours), a second ``v0`` signed with it follows the first,
so a receiver that still knows only the old secret keeps verifying.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

HEADER = "Credyt-Signature"
SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def header(timestamp: int, body: bytes, *secrets_in_use: str) -> str:
    """The header value: the current secret's signature first, then any still-valid older one's."""
    return ",".join([f"t={timestamp}", *(f"v0={sign(s, timestamp, body)}" for s in secrets_in_use)])


def verify(value: str, body: bytes, secret: str, now: int, tolerance: int = 300) -> bool:
    """What a receiver does (docs/webhooks.md): a fresh ``t`` and one ``v0`` matching, in constant time."""
    parts = [p.split("=", 1) for p in value.split(",") if "=" in p]
    stamps = [v for k, v in parts if k == "t"]
    if len(stamps) != 1 or not stamps[0].isdigit() or abs(now - int(stamps[0])) > tolerance:
        return False
    expected = sign(secret, int(stamps[0]), body)
    return any(hmac.compare_digest(expected, v) for k, v in parts if k == "v0")
