"""Worlds for the direct tests of services and stages, built through the services themselves (no API,
no mocks): assets, products and customers, a ready-made ``volume_world``, and ledger checks."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, func, select

from drawdown.catalog import service as catalog
from drawdown.catalog.models import NewAsset, NewProduct, StartingRate
from drawdown.core.scopes import DEFAULT_LIVE, Scope
from drawdown.customers import service as customers
from drawdown.customers.models import NewCustomer, NewSubscription, ProductRef
from drawdown.db.engine import write
from drawdown.db.tables import fees, ledger_entries, transactions
from drawdown.wallets import repository as wallet_sql
from drawdown.wallets import service as wallets
from drawdown.wallets.models import Adjustment


def volume_world(
    engine: Engine, now: datetime, rate: Decimal, n_customers: int, funds: Decimal, funded: int | None = None,
    *, scope: Scope = DEFAULT_LIVE,
) -> tuple[str, list[str]]:
    """(asset code, customer ids); customer i has external id ``<code>-<i>`` and overdraft limit 0;
    the first ``funded`` (default: all) are gifted ``funds``."""
    code = new_code()
    with write(engine) as conn:
        catalog.create_asset(conn, scope, NewAsset(code=code, name=code), now)
        catalog.create_product(
            conn,
            scope,
            NewProduct(
                name=code,
                code=code,
                publish=True,
                prices=[
                    {
                        "name": "u",
                        "type": "usage_based",
                        "billing_model": {"type": "real_time"},
                        "usage_calculation": {"event_type": "u", "usage_type": "volume", "volume_field": "n"},
                        "pricing": [{"asset": code, "values": [{"volume_rate": rate}]}],
                    }
                ],
            ),
            now,
        )
        subscription = NewSubscription((ProductRef(code=code),))
        ids = [
            customers.create_customer(
                conn,
                scope,
                NewCustomer(name=f"{code}-{i}", external_id=f"{code}-{i}", subscriptions=(subscription,)),
                now,
                Decimal(0),
            ).id
            for i in range(n_customers)
        ]
        for cid in ids[:funded]:
            wallets.adjust(conn, scope, cid, Adjustment("t", code, funds, "gift"), now, Decimal(0))
    return code, ids


def new_code(prefix: str = "T") -> str:
    return prefix + uuid.uuid4().hex[:8].upper()


def make_asset(
    conn: Connection, now: datetime, usd_rate: Decimal | None = None, precision: int | None = None,
    *, scope: Scope = DEFAULT_LIVE,
) -> str:
    """A custom asset (with a USD rate from the beginning, if given)."""
    asset = new_code()
    rates = (StartingRate("USD", rate=usd_rate),) if usd_rate is not None else ()
    catalog.create_asset(conn, scope, NewAsset(code=asset, name=asset, precision=precision, rates=rates), now)
    return asset


def usage_price(asset: str, values: list[dict[str, Any]], model: str | None = None, **extra: Any) -> dict[str, Any]:
    """A real-time usage price on event type "u", volume field "n"."""
    doc: dict[str, Any] = {
        "name": "u",
        "type": "usage_based",
        "billing_model": {"type": "real_time"},
        "usage_calculation": {"event_type": "u", "usage_type": "volume", "volume_field": "n"},
        "pricing": [{"asset": asset, "values": values}],
        **extra,
    }
    if model is not None:
        doc["pricing_model"] = model
    return doc


def new_product(
    conn: Connection, now: datetime, prices: list[dict[str, Any]], entitlements: list[dict[str, Any]] | None = None,
    *, scope: Scope = DEFAULT_LIVE,
) -> tuple[str, str]:
    """A published product: (id, code)."""
    product = new_code("P")
    command = NewProduct(code=product, name=product, prices=prices, entitlements=entitlements or [], publish=True)
    created = catalog.create_product(conn, scope, command, now)
    return created.product_id, product


def make_product(
    conn: Connection, now: datetime, prices: list[dict[str, Any]], entitlements: list[dict[str, Any]] | None = None,
    *, scope: Scope = DEFAULT_LIVE,
) -> str:
    """A published product; its code."""
    return new_product(conn, now, prices, entitlements, scope=scope)[1]


def make_customer(
    conn: Connection,
    now: datetime,
    product: str | None = None,
    limit: Decimal | None = Decimal(0),
    *,
    scope: Scope = DEFAULT_LIVE,
) -> str:
    """A customer (subscribed to ``product`` from ``now``, if given); accounts opened with ``limit``."""
    subs = (NewSubscription(products=(ProductRef(code=product),)),) if product else ()
    created = customers.create_customer(
        conn, scope, NewCustomer(name=new_code("C"), external_id=new_code("X"), subscriptions=subs), now, limit
    )
    return created.id


def account_id(conn: Connection, customer_id: str, asset: str, name: str = "default") -> str:
    row = wallet_sql.account_by_key(conn, customer_id, name, asset)
    assert row is not None
    return str(row.id)


def transaction_count(conn: Connection, customer_id: str) -> int:
    return int(
        conn.execute(
            select(func.count()).select_from(transactions).where(transactions.c.customer_id == customer_id)
        ).scalar_one()
    )


def unbalanced(conn: Connection, customer_id: str) -> list[Any]:
    """Transactions of the customer whose ledger entries do not sum to zero (should be none)."""
    return list(
        conn.execute(
            select(ledger_entries.c.transaction_id)
            .join(transactions, transactions.c.id == ledger_entries.c.transaction_id)
            .where(transactions.c.customer_id == customer_id)
            .group_by(ledger_entries.c.transaction_id)
            .having(func.sum(ledger_entries.c.amount) != 0)
        ).all()
    )


def untraced(conn: Connection, customer_id: str) -> list[Any]:
    """What breaks the trace between real-time fees and the usage transactions that took them (should
    be nothing): each such fee names a usage transaction of its customer, and each usage transaction
    took exactly what its fees add up to. Rows: (transaction_id, taken by the transaction, its fees)."""
    t, f = transactions.c, fees.c
    txns = {r.transaction_id: -int(r.amount) for r in conn.execute(
        select(t.transaction_id, t.amount).where(t.customer_id == customer_id, t.type == "usage"))}
    sums: dict[Any, int] = {}
    for r in conn.execute(select(f.charge_id, f.amount).where(f.customer_id == customer_id, f.billing == "real_time")):
        sums[r.charge_id] = sums.get(r.charge_id, 0) + int(r.amount)
    return [(k, txns.get(k), sums.get(k)) for k in sorted(set(txns) | set(sums), key=str) if txns.get(k) != sums.get(k)]
