"""Accounts: platforms with a live and a test scope, and the connected accounts they create.

A connected account is created by a platform in the scope its key acts in, and lives in that
environment only. The platform acts inside it by sending ``X-CREDYT-ACCOUNT``; nobody else can, and
an account that is not the caller's to act in is answered exactly like one that does not exist.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from drawdown.accounts import repository as repo
from drawdown.accounts.models import Account, Context, NewAccount
from drawdown.core.errors import Conflict, NotFound
from drawdown.core.ids import ACCOUNT, ORG, new_id
from drawdown.core.scopes import ENVIRONMENTS, Scope


def create_platform(conn: Connection, name: str, now: datetime) -> Account:
    """A new platform account (its own org) with its live and test scopes, each with the fiat currencies."""
    account_id, org_id = new_id(ACCOUNT), new_id(ORG)
    repo.insert_account(conn, account_id, org_id, name, None, None, None, now)
    for environment in ENVIRONMENTS:
        repo.copy_fiat(conn, repo.insert_scope(conn, account_id, environment).id)
    found = repo.account(conn, account_id)
    assert found is not None
    return found


def create_connected(conn: Connection, scope: Scope, command: NewAccount, now: datetime) -> str:
    """A connected account of the caller's account, in the caller's environment."""
    if command.external_id is not None and repo.external_id_taken(conn, scope.id, command.external_id):
        raise Conflict(f"a connected account with external_id {command.external_id!r} already exists")
    parent = repo.account(conn, scope.account_id)
    assert parent is not None
    account_id = new_id(ACCOUNT)
    repo.insert_account(
        conn, account_id, parent.org_id, command.name, command.external_id, command.metadata, scope.id, now
    )
    repo.copy_fiat(conn, repo.insert_scope(conn, account_id, scope.environment).id)
    return account_id


def get_connected(conn: Connection, scope: Scope, account_id: str) -> Account:
    found = repo.account(conn, account_id)
    if found is None or found.parent_scope_id != scope.id:
        raise NotFound(f"no connected account {account_id!r}")
    return found


def list_connected(
    conn: Connection, scope: Scope, offset: int, limit: int, external_id: str | None = None
) -> tuple[list[Account], int]:
    return repo.connected_page(conn, scope.id, offset, limit, external_id)


def connected_scope(conn: Connection, scope: Scope, account_id: str) -> Scope | None:
    """Where a key of ``scope`` acts with ``X-CREDYT-ACCOUNT: account_id``; None when it may not."""
    return repo.connected_scope(conn, scope.id, account_id)


def context(conn: Connection, scope: Scope) -> Context:
    found = repo.account(conn, scope.account_id)
    assert found is not None
    return Context(scope, found.org_id, found.name)


def scope_for(conn: Connection, account_id: str, environment: str) -> Scope:
    """An account's scope in an environment (for the CLI); NotFound when it has none."""
    found = repo.scope(conn, account_id, environment)
    if found is None:
        raise NotFound(f"account {account_id!r} has no {environment} environment")
    return found


def platforms(conn: Connection) -> list[Account]:
    return repo.platforms(conn)


def scope_by_id(conn: Connection, scope_id: int) -> Scope | None:
    """A scope from a row's ``scope_id`` (for work that runs for every scope, like the billing job)."""
    return repo.scope_by_id(conn, scope_id)
