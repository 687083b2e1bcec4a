"""API keys, stored as SHA-256 hashes of high-entropy secrets (never in clear)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from sqlalchemy import Connection, insert, select

from drawdown.core.ids import API_KEY, new_id
from drawdown.db.tables import api_keys


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create(conn: Connection, name: str, now: datetime, secret: str | None = None) -> tuple[str, str]:
    """(key id, secret). The secret is returned once; only its hash is stored."""
    secret = secret or "key_" + secrets.token_urlsafe(32)
    digest = hash_secret(secret)
    existing = conn.execute(select(api_keys.c.id).where(api_keys.c.secret_hash == digest)).scalar()
    if existing:
        return existing, secret
    key_id = new_id(API_KEY)
    conn.execute(insert(api_keys).values(id=key_id, name=name, secret_hash=digest, created_at=now))
    return key_id, secret


def verify(conn: Connection, secret: str) -> str | None:
    return conn.execute(select(api_keys.c.id).where(api_keys.c.secret_hash == hash_secret(secret))).scalar()
