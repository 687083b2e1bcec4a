"""Balance alerts' SQL (``wallets/alerts.py`` holds the rules): the thresholds row of an account and
its mirror on ``wallet_accounts.alert_levels``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, select, update

from drawdown.db.tables import balance_alerts, wallet_accounts

_b, _w = balance_alerts.c, wallet_accounts.c


def account_id(conn: Connection, customer_id: str, name: str, asset: str) -> str | None:
    return conn.execute(select(_w.id).where(_w.customer_id == customer_id, _w.name == name, _w.asset == asset)).scalar()


def row(conn: Connection, account_id: str) -> Any:
    return conn.execute(select(balance_alerts).where(_b.account_id == account_id)).first()


def save(conn: Connection, account_id: str, customer_id: str, thresholds: str, now: datetime) -> None:
    if row(conn, account_id) is None:
        conn.execute(balance_alerts.insert().values(account_id=account_id, customer_id=customer_id,
                                                    thresholds=thresholds, last_top_up=None, updated_at=now))
    else:
        conn.execute(update(balance_alerts).where(_b.account_id == account_id)
                     .values(thresholds=thresholds, updated_at=now))


def set_last_top_up(conn: Connection, account_id: str, nano: int) -> None:
    conn.execute(update(balance_alerts).where(_b.account_id == account_id).values(last_top_up=nano))


def remove(conn: Connection, account_id: str) -> None:
    conn.execute(delete(balance_alerts).where(_b.account_id == account_id))
    mirror(conn, account_id, None)


def mirror(conn: Connection, account_id: str, levels: str | None) -> None:
    conn.execute(update(wallet_accounts).where(_w.id == account_id).values(alert_levels=levels))
