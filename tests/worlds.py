"""A small world for domain tests: one asset, one product with a volume price on event type "u"
(field "n"), and funded customers."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Engine

from drawdown.catalog import service as catalog
from drawdown.catalog.models import NewAsset, NewProduct
from drawdown.customers import service as customers
from drawdown.customers.models import NewCustomer, NewSubscription, ProductRef
from drawdown.db.engine import write
from drawdown.wallets import service as wallets
from drawdown.wallets.models import Adjustment


def volume_world(
    engine: Engine, now: datetime, rate: Decimal, n_customers: int, funds: Decimal, funded: int | None = None
) -> tuple[str, list[str]]:
    """(asset code, customer ids); customer i has external id ``<code>-<i>`` and overdraft limit 0;
    the first ``funded`` (default: all) are gifted ``funds``."""
    code = "T" + uuid.uuid4().hex[:8].upper()
    with write(engine) as conn:
        catalog.create_asset(conn, NewAsset(code=code, name=code), now)
        catalog.create_product(conn, NewProduct(name=code, code=code, publish=True, prices=[
            {"name": "u", "type": "usage_based", "billing_model": {"type": "real_time"},
             "usage_calculation": {"event_type": "u", "usage_type": "volume", "volume_field": "n"},
             "pricing": [{"asset": code, "values": [{"volume_rate": rate}]}]}]), now)
        subscription = NewSubscription((ProductRef(code=code),))
        ids = [customers.create_customer(conn, NewCustomer(name=f"{code}-{i}", external_id=f"{code}-{i}",
                                                           subscriptions=(subscription,)), now, Decimal(0)).id
               for i in range(n_customers)]
        for cid in ids[:funded]:
            wallets.adjust(conn, cid, Adjustment("t", code, funds, "gift"), now, Decimal(0))
    return code, ids
