"""``drawdown accounts`` and ``drawdown api-keys``: the operator's hands on platforms and their keys."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import NoReturn

import typer
from rich.console import Console
from sqlalchemy import Connection, Engine

from drawdown.core.scopes import Scope
from drawdown.settings import Settings

keys = typer.Typer(help="API keys: create, list, revoke", no_args_is_help=True)
accounts_cli = typer.Typer(help="Platform accounts", no_args_is_help=True)
console = Console()


ACCOUNT_OPTION = typer.Option(None, "--account", help="The account (acc_…); default: the default account")
ENVIRONMENT_OPTION = typer.Option("live", "--environment", help="live or test")


def scope_of(conn: Connection, account: str | None, environment: str) -> Scope:
    """The scope a command acts in, or one line saying why there is none."""
    from drawdown.accounts import service as accounts
    from drawdown.core.errors import NotFound
    from drawdown.core.scopes import DEFAULT_ACCOUNT, ENVIRONMENTS

    if environment not in ENVIRONMENTS:
        _fail(f"--environment must be live or test, not {environment!r}")
    try:
        return accounts.scope_for(conn, account or DEFAULT_ACCOUNT, environment)
    except NotFound as exc:
        _fail(f"{exc.detail} (see `drawdown accounts list`)")


def _now() -> datetime:
    return datetime.now(UTC)


def _fail(message: str) -> NoReturn:
    typer.echo(f"drawdown: {message}", err=True)
    raise typer.Exit(1)


def _engine() -> Engine:
    """The configured database, migrated to head (the key and account commands write to it)."""
    from drawdown.db.engine import make_engine
    from drawdown.db.migrate import upgrade

    settings = Settings()
    upgrade(settings.database_url)
    return make_engine(settings.database_url)


@keys.command("create")
def create_key(
    name: str = typer.Option(..., "--name", help="A label for the key"),
    environment: str = ENVIRONMENT_OPTION,
    account: str | None = ACCOUNT_OPTION,
) -> None:
    """Create an API key and print its secret (shown once, stored only as a hash)."""
    from drawdown.apikeys import service as api_keys
    from drawdown.db.engine import write

    with write(_engine()) as conn:
        scope = scope_of(conn, account, environment)
        key_id, secret = api_keys.create(conn, scope, name, _now())
    console.print(f"key id: {key_id} (account {scope.account_id}, {scope.environment})")
    typer.echo(secret)


@keys.command("list")
def list_keys(account: str | None = typer.Option(None, "--account", help="Only this account's keys")) -> None:
    """Every key: id, name, the start of its secret, account, environment, last use, revocation."""
    from rich.table import Table

    from drawdown.apikeys import service as api_keys
    from drawdown.db.engine import read

    with read(_engine()) as conn:
        found = api_keys.list_all(conn, account)
    table = Table("id", "name", "hint", "account", "env", "created", "last used", "revoked")
    for k in found:
        table.add_row(k.id, k.name, k.hint, k.account_id, k.environment, _when(k.created_at),
                      _when(k.last_used_at), _when(k.revoked_at))
    console.print(table)


@keys.command("revoke")
def revoke_key(key_id: str = typer.Argument(..., help="The key's id (key_…), from `api-keys list`")) -> None:
    """Revoke a key: every request with it is refused (401) from now on."""
    from drawdown.apikeys import service as api_keys
    from drawdown.core.errors import NotFound
    from drawdown.db.engine import write

    with write(_engine()) as conn:
        try:
            api_keys.revoke(conn, None, key_id, _now())
        except NotFound as exc:
            _fail(exc.detail)
    console.print(f"revoked {key_id}")


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


@accounts_cli.command("create")
def create_account(name: str = typer.Option(..., "--name", help="The platform's name")) -> None:
    """Create a platform account (its own live and test environments); prints its id."""
    from drawdown.accounts import service as accounts
    from drawdown.db.engine import write

    with write(_engine()) as conn:
        account = accounts.create_platform(conn, name, _now())
    console.print(f"account {account.name} (org {account.org_id}): drawdown api-keys create --account {account.id}")
    typer.echo(account.id)


@accounts_cli.command("list")
def list_accounts() -> None:
    """The platform accounts (connected accounts are listed through the API, by their platform)."""
    from rich.table import Table

    from drawdown.accounts import service as accounts
    from drawdown.db.engine import read

    with read(_engine()) as conn:
        found = accounts.platforms(conn)
    table = Table("id", "name", "org", "created")
    for a in found:
        table.add_row(a.id, a.name, a.org_id, _when(a.created_at))
    console.print(table)
