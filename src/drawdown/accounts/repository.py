"""The accounts room's SQL: accounts, their scopes, and the fiat currencies every scope starts with."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, literal, select

from drawdown.accounts.models import Account
from drawdown.core.scopes import DEFAULT_LIVE_ID, Scope
from drawdown.db.tables import accounts, assets, scopes

_a = accounts.c
_s = scopes.c


def insert_account(
    conn: Connection, account_id: str, org_id: str, name: str, external_id: str | None,
    metadata: dict[str, str] | None, parent_scope_id: int | None, now: datetime,
) -> None:
    conn.execute(
        insert(accounts).values(
            id=account_id, org_id=org_id, name=name, external_id=external_id, metadata=metadata,
            parent_scope_id=parent_scope_id, created_at=now,
        )
    )


def insert_scope(conn: Connection, account_id: str, environment: str) -> Scope:
    scope_id = conn.execute(
        insert(scopes).values(account_id=account_id, environment=environment).returning(_s.id)
    ).scalar_one()
    return Scope(scope_id, account_id, environment)


def copy_fiat(conn: Connection, scope_id: int) -> None:
    """The fiat currencies, as the default live scope has them (seeded by the first migration)."""
    columns = ["code", "name", "precision", "label", "symbol", "is_fiat", "created_at"]
    source = select(literal(scope_id), *(assets.c[c] for c in columns)).where(
        assets.c.scope_id == DEFAULT_LIVE_ID, assets.c.is_fiat.is_(True)
    )
    conn.execute(insert(assets).from_select(["scope_id", *columns], source))


def _account(row: Any) -> Account:
    return Account(row.id, row.org_id, row.name, row.external_id, row.metadata, row.created_at, row.parent_scope_id)


def account(conn: Connection, account_id: str) -> Account | None:
    row = conn.execute(select(accounts).where(_a.id == account_id)).first()
    return None if row is None else _account(row)


def scope(conn: Connection, account_id: str, environment: str) -> Scope | None:
    row = conn.execute(select(_s.id).where(_s.account_id == account_id, _s.environment == environment)).first()
    return None if row is None else Scope(row.id, account_id, environment)


def scope_by_id(conn: Connection, scope_id: int) -> Scope | None:
    row = conn.execute(select(scopes).where(_s.id == scope_id)).first()
    return None if row is None else Scope(row.id, row.account_id, row.environment)


def connected_scope(conn: Connection, parent_scope_id: int, account_id: str) -> Scope | None:
    """The scope of the connected account ``account_id`` if it was created in ``parent_scope_id``."""
    row = conn.execute(
        select(_s.id, _s.environment)
        .join(accounts, _a.id == _s.account_id)
        .where(_a.id == account_id, _a.parent_scope_id == parent_scope_id)
    ).first()
    return None if row is None else Scope(row.id, account_id, row.environment)


def connected_page(
    conn: Connection, parent_scope_id: int, offset: int, limit: int, external_id: str | None
) -> tuple[list[Account], int]:
    q = select(accounts).where(_a.parent_scope_id == parent_scope_id)
    if external_id is not None:
        q = q.where(_a.external_id == external_id)
    total = conn.execute(select(func.count()).select_from(q.subquery())).scalar_one()
    rows = conn.execute(q.order_by(_a.created_at, _a.id).offset(offset).limit(limit))
    return [_account(r) for r in rows], total


def external_id_taken(conn: Connection, parent_scope_id: int, external_id: str) -> bool:
    q = select(_a.id).where(_a.parent_scope_id == parent_scope_id, _a.external_id == external_id)
    return conn.execute(q).first() is not None


def platforms(conn: Connection) -> list[Account]:
    rows = conn.execute(select(accounts).where(_a.parent_scope_id.is_(None)).order_by(_a.created_at, _a.id))
    return [_account(r) for r in rows]
