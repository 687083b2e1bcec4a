"""API keys, stored as SHA-256 hashes of high-entropy secrets (never in clear).

A key belongs to one scope; its secret's prefix names its environment (``key_live_…``, ``key_test_…``).
A revoked key stays listed (with when it was revoked) and never verifies again.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

from sqlalchemy import Connection

from drawdown.apikeys import repository as repo
from drawdown.apikeys.models import KeyInfo, KeySummary
from drawdown.core.errors import NotFound
from drawdown.core.ids import API_KEY, new_id
from drawdown.core.scopes import Scope

HINT_LENGTH = 14  # "key_test_" and five characters of the random part


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret(environment: str) -> str:
    return f"key_{environment}_" + secrets.token_urlsafe(32)


def create(
    conn: Connection, scope: Scope, name: str, now: datetime, secret: str | None = None
) -> tuple[str, str]:
    """(key id, secret). The secret is returned once; only its hash is stored. Creating a key for a
    secret that already has one answers that key (a bootstrap key given in settings is created once)."""
    secret = secret or new_secret(scope.environment)
    digest = hash_secret(secret)
    existing = repo.key_id_by_hash(conn, digest)
    if existing:
        return existing, secret
    key_id = new_id(API_KEY)
    repo.insert_key(conn, key_id, scope.id, name, digest, secret[:HINT_LENGTH] + "…", now)
    return key_id, secret


def verify(conn: Connection, secret: str) -> KeyInfo | None:
    """The key with this secret, unless unknown or revoked.

    The lookup is by the secret's SHA-256, so an index probe never compares the secret itself; the
    stored hash is then compared in constant time, so no answer depends on how much of it matched."""
    digest = hash_secret(secret)
    found = repo.live_key_by_hash(conn, digest)
    if found is None or not hmac.compare_digest(found[1], digest):
        return None
    return found[0]


def list_keys(conn: Connection, scope: Scope) -> list[KeySummary]:
    """The keys of one scope (the API: a key sees its own environment's keys)."""
    return repo.keys(conn, scope_id=scope.id)


def list_all(conn: Connection, account_id: str | None = None) -> list[KeySummary]:
    """Every key, or one account's (the operator's CLI)."""
    return repo.keys(conn, account_id=account_id)


def revoke(conn: Connection, scope: Scope | None, key_id: str, now: datetime) -> None:
    """Revokes a key at once; revoking a revoked key again changes nothing. An unknown key, or one
    outside ``scope`` (None: the operator, any key), is NotFound."""
    scope_id = None if scope is None else scope.id
    if not repo.revoke(conn, key_id, now, scope_id) and not repo.exists(conn, key_id, scope_id):
        raise NotFound(f"no API key {key_id!r}")


def touch(conn: Connection, key_id: str, now: datetime) -> None:
    repo.touch(conn, key_id, now)
