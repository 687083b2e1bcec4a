"""Period billing for one customer, under its lock: fixed fees due at period starts and recurring
usage charged at period ends (docs/pricing.md). ``jobs.billing_cycle`` runs it for every customer; a
new subscription runs ``collect_fixed`` at once.

Every charge writes a ``period_charges`` row keyed by (subscription, price, period start): a period
is charged once however often, or however late, this runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

import structlog
from sqlalchemy import Connection, func, insert, select, update

from drawdown.core import catalog as price_rules
from drawdown.core.ids import FEE, TRANSACTION, new_id
from drawdown.core.ledger import REVENUE
from drawdown.core.money import from_scaled, to_scaled
from drawdown.db.tables import fees, period_charges, product_versions, products, subscription_products, subscriptions
from drawdown.wallets.books import DEFAULT_ACCOUNT, Books, ensure_account, subscriptions_changed

log = structlog.get_logger()
ACTIVE, ACTION_REQUIRED = "active", "action_required"


@dataclass
class Report:
    fixed_charged: int = 0
    usage_charged: int = 0
    entitlements_granted: int = 0
    action_required: list[str] = field(default_factory=list)


def close_usage(conn: Connection, customer_id: str, now: datetime, report: Report) -> None:
    groups = conn.execute(
        select(
            fees.c.subscription_id, fees.c.price_id, fees.c.price_name, fees.c.period_start, fees.c.account_id,
            func.sum(fees.c.amount).label("total"),
        )
        .where(
            fees.c.customer_id == customer_id,
            fees.c.billing == price_rules.RECURRING,
            fees.c.charge_id.is_(None),
            fees.c.period_end <= now,
        )
        .group_by(fees.c.subscription_id, fees.c.price_id, fees.c.price_name, fees.c.period_start, fees.c.account_id)
    ).all()
    if not groups:
        return
    books = Books(conn, customer_id, now)
    for g in groups:
        total = from_scaled(int(g.total))
        charge_id = new_id("chg")
        books.debit(
            g.account_id, total, REVENUE,
            {"id": new_id(TRANSACTION), "transaction_id": charge_id, "type": "fee", "description": f"{g.price_name} (period usage)"},
            release=total,
        )
        conn.execute(
            insert(period_charges).values(
                subscription_id=g.subscription_id, price_id=g.price_id, period_start=g.period_start, kind="usage",
                customer_id=customer_id, transaction_id=charge_id, amount=int(g.total), created_at=now,
            )
        )
        conn.execute(
            update(fees)
            .where(
                fees.c.customer_id == customer_id,
                fees.c.subscription_id == g.subscription_id,
                fees.c.price_id == g.price_id,
                fees.c.period_start == g.period_start,
                fees.c.charge_id.is_(None),
            )
            .values(charge_id=charge_id)
        )
        report.usage_charged += 1
    books.flush()


def _fixed_prices(conn: Connection, sub_id: str) -> list[tuple[object, price_rules.FixedPrice]]:
    rows = conn.execute(
        select(
            products.c.id, products.c.code, product_versions.c.version, product_versions.c.prices, subscription_products.c.since
        )
        .select_from(subscription_products.join(product_versions).join(products))
        .where(subscription_products.c.subscription_id == sub_id)
    ).all()
    return [(r, price_rules.fixed_price(doc)) for r in rows for doc in r.prices if doc.get("type") == "fixed"]


def collect_fixed(
    conn: Connection, sub_id: str, now: datetime, overdraft_limit: Decimal | None, public_url: str, report: Report
) -> None:
    """Charge every fixed fee of the subscription that is due and not yet charged (customer locked)."""
    sub = conn.execute(select(subscriptions).where(subscriptions.c.id == sub_id)).one()
    charged = {
        (r.price_id, r.period_start)
        for r in conn.execute(select(period_charges.c.price_id, period_charges.c.period_start).where(period_charges.c.subscription_id == sub_id))
    }
    books = Books(conn, sub.customer_id, now)
    blocked = False
    for product, fixed in _fixed_prices(conn, sub_id):
        for start, end in price_rules.due_periods(fixed, sub.started_at, now, product.since):
            if (fixed.id, start) in charged:
                continue
            account_id = ensure_account(conn, sub.customer_id, DEFAULT_ACCOUNT, fixed.asset, now, overdraft_limit)
            if not books.can_spend(account_id, fixed.amount):
                blocked = True
                break
            fee_id = new_id(FEE)
            books.debit(
                account_id, fixed.amount, REVENUE,
                {"id": new_id(TRANSACTION), "transaction_id": fee_id, "type": "fee", "description": fixed.name},
            )
            conn.execute(insert(fees).values(
                id=fee_id, event_seq=None, subscription_id=sub_id, billing=fixed.cadence.kind, period_start=start, period_end=end,
                customer_id=sub.customer_id, account_id=account_id, product_id=product.id, product_code=product.code,
                product_version=product.version, price_id=fixed.id, price_name=fixed.name, asset=fixed.asset, usage_type="fixed",
                amount=to_scaled(fixed.amount), description=fixed.name, charge_id=fee_id, created_at=now,
            ))
            conn.execute(insert(period_charges).values(
                subscription_id=sub_id, price_id=fixed.id, period_start=start, kind="fixed", customer_id=sub.customer_id,
                transaction_id=fee_id, amount=to_scaled(fixed.amount), created_at=now,
            ))
            report.fixed_charged += 1
        if blocked:
            break
    books.flush()
    if blocked and sub.status != ACTION_REQUIRED:
        actions = [{"type": "payment", "redirect_url": f"{public_url.rstrip('/')}/portal/subscriptions/{sub_id}/payment"}]
        conn.execute(update(subscriptions).where(subscriptions.c.id == sub_id).values(status=ACTION_REQUIRED, required_actions=actions))
        subscriptions_changed(conn, sub.customer_id)
        report.action_required.append(sub_id)
        log.info("subscription_action_required", subscription_id=sub_id)
    elif not blocked and sub.status == ACTION_REQUIRED:
        conn.execute(update(subscriptions).where(subscriptions.c.id == sub_id).values(status=ACTIVE, required_actions=None))
        subscriptions_changed(conn, sub.customer_id)
        log.info("subscription_reactivated", subscription_id=sub_id)
