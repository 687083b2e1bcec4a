"""Price and entitlement documents and wallet readings for the customers and billing service tests
(the catalog and customers themselves come from tests/worlds.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, select

from drawdown.core.scopes import DEFAULT_LIVE, Scope
from drawdown.db.tables import customers, wallet_accounts
from drawdown.wallets import service as wallets
from drawdown.wallets.models import Adjustment
from tests.worlds import make_asset, new_code, new_product

Doc = dict[str, Any]
Price = Callable[[str], Doc]  # a price document in the asset it is given


# The shared builders, under the names these tests use.
code = new_code
product = new_product


def asset(conn: Connection, now: datetime) -> str:
    return make_asset(conn, now)


def real_time(asset_code: str) -> Doc:
    return {
        "name": "use",
        "type": "usage_based",
        "billing_model": {"type": "real_time"},
        "usage_calculation": {"event_type": "use", "usage_type": "unit"},
        "pricing": [{"asset": asset_code, "values": [{"unit_price": Decimal(1)}]}],
    }


def monthly_fee(asset_code: str, amount: Decimal) -> Doc:
    return {
        "name": "Plan",
        "type": "fixed",
        "billing_model": {"type": "recurring", "recurring": {"interval": "month"}},
        "pricing": [{"asset": asset_code, "values": [{"unit_price": amount}]}],
    }


def monthly_tokens(asset_code: str, rate: Decimal) -> Doc:
    """Usage accrued over the month (reserved as it comes) and charged at the month's end."""
    return {
        "name": "Tokens",
        "type": "usage_based",
        "billing_model": {"type": "recurring", "recurring": {"interval": "month"}},
        "usage_calculation": {"event_type": "tokens", "usage_type": "volume", "volume_field": "n"},
        "pricing": [{"asset": asset_code, "values": [{"volume_rate": rate}]}],
    }


def daily_grant(asset_code: str, amount: Decimal) -> Doc:
    return {
        "name": "daily",
        "asset": asset_code,
        "amount": amount,
        "purpose": "promotion",
        "lifecycle": {"duration": "day", "refresh": {"strategy": "expire_and_replace"}},
    }


def fund(
    conn: Connection, customer_id: str, asset_code: str, amount: Decimal, now: datetime, scope: Scope = DEFAULT_LIVE
) -> None:
    topup = Adjustment(code("t"), asset_code, amount, "external_topup")
    wallets.adjust(conn, scope, customer_id, topup, now, Decimal(0))


def available(
    conn: Connection, customer_id: str, asset_code: str, now: datetime, scope: Scope = DEFAULT_LIVE
) -> Decimal:
    return wallets.balance(conn, scope, customer_id, f"default:{asset_code}", now).available


def pending_out(conn: Connection, customer_id: str, asset_code: str, now: datetime) -> Decimal:
    return wallets.balance(conn, DEFAULT_LIVE, customer_id, f"default:{asset_code}", now).pending_out


def account_assets(conn: Connection, customer_id: str) -> set[str]:
    rows = conn.execute(select(wallet_accounts.c.asset).where(wallet_accounts.c.customer_id == customer_id))
    return set(rows.scalars())


def revision(conn: Connection, customer_id: str) -> int:
    return int(conn.execute(select(customers.c.revision).where(customers.c.id == customer_id)).scalar_one())
