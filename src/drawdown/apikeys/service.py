"""API keys, stored as SHA-256 hashes of high-entropy secrets (never in clear)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from sqlalchemy import Connection

from drawdown.apikeys import repository as repo
from drawdown.core.ids import API_KEY, new_id


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create(conn: Connection, name: str, now: datetime, secret: str | None = None) -> tuple[str, str]:
    """(key id, secret). The secret is returned once; only its hash is stored. Creating a key for a
    secret that already has one answers that key (a bootstrap key given in settings is created once)."""
    secret = secret or "key_" + secrets.token_urlsafe(32)
    digest = hash_secret(secret)
    existing = repo.key_id_by_hash(conn, digest)
    if existing:
        return existing, secret
    key_id = new_id(API_KEY)
    repo.insert_key(conn, key_id, name, digest, now)
    return key_id, secret


def verify(conn: Connection, secret: str) -> str | None:
    """The id of the key with this secret, or None."""
    return repo.key_id_by_hash(conn, hash_secret(secret))
