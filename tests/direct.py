"""Helpers for direct tests of services and stages: catalog, customers and ledger checks, through the
services themselves (no API, no mocks)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, func, select

from drawdown.catalog import service as catalog
from drawdown.catalog.models import NewAsset, NewProduct, StartingRate
from drawdown.customers import service as customers
from drawdown.customers.models import NewCustomer, NewSubscription, ProductRef
from drawdown.db.tables import ledger_entries, transactions
from drawdown.wallets import repository as wallet_sql


def code(prefix: str = "T") -> str:
    return prefix + uuid.uuid4().hex[:8].upper()


def make_asset(conn: Connection, now: datetime, usd_rate: Decimal | None = None, precision: int | None = None) -> str:
    """A custom asset (with a USD rate from the beginning, if given)."""
    asset = code()
    rates = (StartingRate("USD", rate=usd_rate),) if usd_rate is not None else ()
    catalog.create_asset(conn, NewAsset(code=asset, name=asset, precision=precision, rates=rates), now)
    return asset


def usage_price(asset: str, values: list[dict[str, Any]], model: str | None = None, **extra: Any) -> dict[str, Any]:
    """A real-time usage price on event type "u", volume field "n"."""
    doc: dict[str, Any] = {
        "name": "u", "type": "usage_based", "billing_model": {"type": "real_time"},
        "usage_calculation": {"event_type": "u", "usage_type": "volume", "volume_field": "n"},
        "pricing": [{"asset": asset, "values": values}], **extra,
    }
    if model is not None:
        doc["pricing_model"] = model
    return doc


def make_product(
    conn: Connection, now: datetime, prices: list[dict[str, Any]], entitlements: list[dict[str, Any]] | None = None
) -> str:
    """A published product; its code."""
    product = code("P")
    catalog.create_product(
        conn, NewProduct(code=product, name=product, prices=prices, entitlements=entitlements or [], publish=True), now
    )
    return product


def make_customer(
    conn: Connection, now: datetime, product: str | None = None, limit: Decimal | None = Decimal(0)
) -> str:
    """A customer (subscribed to ``product`` from ``now``, if given); accounts opened with ``limit``."""
    subs = (NewSubscription(products=(ProductRef(code=product),)),) if product else ()
    created = customers.create_customer(conn, NewCustomer(name=code("C"), external_id=code("X"), subscriptions=subs),
                                        now, limit)
    return created.id


def account_id(conn: Connection, customer_id: str, asset: str, name: str = "default") -> str:
    row = wallet_sql.account_by_key(conn, customer_id, name, asset)
    assert row is not None
    return str(row.id)


def transaction_count(conn: Connection, customer_id: str) -> int:
    return int(conn.execute(
        select(func.count()).select_from(transactions).where(transactions.c.customer_id == customer_id)
    ).scalar_one())


def unbalanced(conn: Connection, customer_id: str) -> list[Any]:
    """Transactions of the customer whose ledger entries do not sum to zero (should be none)."""
    return list(conn.execute(
        select(ledger_entries.c.transaction_id)
        .join(transactions, transactions.c.id == ledger_entries.c.transaction_id)
        .where(transactions.c.customer_id == customer_id)
        .group_by(ledger_entries.c.transaction_id)
        .having(func.sum(ledger_entries.c.amount) != 0)
    ).all())
