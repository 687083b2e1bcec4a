"""The API keys' SQL: keys are found by the hash of their secret, with the scope they belong to."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, insert, select, update

from drawdown.apikeys.models import KeyInfo, KeySummary
from drawdown.core.scopes import Scope
from drawdown.db.tables import api_keys, scopes

_k = api_keys.c


def live_key_by_hash(conn: Connection, secret_hash: str) -> tuple[KeyInfo, str] | None:
    """The key with this hash unless it is revoked, with the hash as stored."""
    row = conn.execute(
        select(
            _k.id, _k.secret_hash, _k.last_used_at,
            scopes.c.id.label("scope_id"), scopes.c.account_id, scopes.c.environment,
        )
        .join(scopes, scopes.c.id == _k.scope_id)
        .where(_k.secret_hash == secret_hash, _k.revoked_at.is_(None))
    ).first()
    if row is None:
        return None
    return KeyInfo(row.id, Scope(row.scope_id, row.account_id, row.environment), row.last_used_at), row.secret_hash


def key_id_by_hash(conn: Connection, secret_hash: str) -> str | None:
    return conn.execute(select(_k.id).where(_k.secret_hash == secret_hash)).scalar()


def insert_key(
    conn: Connection, key_id: str, scope_id: int, name: str, secret_hash: str, hint: str, now: datetime
) -> None:
    conn.execute(
        insert(api_keys).values(
            id=key_id, scope_id=scope_id, name=name, secret_hash=secret_hash, hint=hint, created_at=now
        )
    )


def keys(conn: Connection, scope_id: int | None = None, account_id: str | None = None) -> list[KeySummary]:
    """Keys, oldest first: of one scope, of one account, or all (the operator's CLI)."""
    q = (
        select(api_keys, scopes.c.account_id, scopes.c.environment)
        .join(scopes, scopes.c.id == _k.scope_id)
        .order_by(_k.created_at, _k.id)
    )
    if scope_id is not None:
        q = q.where(_k.scope_id == scope_id)
    if account_id is not None:
        q = q.where(scopes.c.account_id == account_id)
    return [
        KeySummary(r.id, r.name, r.hint, r.account_id, r.environment, r.created_at, r.last_used_at, r.revoked_at)
        for r in conn.execute(q)
    ]


def revoke(conn: Connection, key_id: str, now: datetime, scope_id: int | None = None) -> bool:
    """Revokes the key (of ``scope_id`` when given); False when there is no such live key."""
    q = update(api_keys).where(_k.id == key_id, _k.revoked_at.is_(None))
    if scope_id is not None:
        q = q.where(_k.scope_id == scope_id)
    return conn.execute(q.values(revoked_at=now)).rowcount == 1


def exists(conn: Connection, key_id: str, scope_id: int | None = None) -> bool:
    q = select(_k.id).where(_k.id == key_id)
    if scope_id is not None:
        q = q.where(_k.scope_id == scope_id)
    return conn.execute(q).first() is not None


def touch(conn: Connection, key_id: str, now: datetime) -> None:
    conn.execute(update(api_keys).where(_k.id == key_id).values(last_used_at=now))
