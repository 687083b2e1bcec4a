"""The API keys' SQL: keys are found by the hash of their secret."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, insert, select

from drawdown.db.tables import api_keys


def key_id_by_hash(conn: Connection, secret_hash: str) -> str | None:
    return conn.execute(select(api_keys.c.id).where(api_keys.c.secret_hash == secret_hash)).scalar()


def insert_key(conn: Connection, key_id: str, name: str, secret_hash: str, now: datetime) -> None:
    conn.execute(insert(api_keys).values(id=key_id, name=name, secret_hash=secret_hash, created_at=now))
