"""The scheduled billing job: for every customer with something due, refreshes entitlements, moves
grants along in time (pending -> live, expired -> written off), and runs ``billing.cycle``.

Computed from stored state, so a run is idempotent and a late run catches up (every due period
without a ``period_charges`` row is charged once). ``serve`` runs it every
``DRAWDOWN_JOB_INTERVAL_SECONDS``; ``drawdown jobs run`` runs it once.
"""

from __future__ import annotations

import threading
from datetime import datetime
from decimal import Decimal
from typing import Callable

import structlog
from sqlalchemy import Engine, select

from drawdown.core import catalog as price_rules
from drawdown.billing.cycle import ACTION_REQUIRED, ACTIVE, Report, close_usage, collect_fixed
from drawdown.db.engine import write
from drawdown.db.tables import fees, subscriptions
from drawdown.wallets import entitlements
from drawdown.wallets.books import Books, accounts_due, lock_customer

log = structlog.get_logger()


def run_due(
    engine: Engine, now: datetime, overdraft_limit: Decimal | None, public_url: str, only: set[str] | None = None
) -> Report:
    """Charge everything due at ``now`` (for the customers in ``only``, when given)."""
    report = Report()
    with engine.connect() as conn:
        customer_ids = set(
            conn.execute(
                select(fees.c.customer_id).where(
                    fees.c.billing == price_rules.RECURRING, fees.c.charge_id.is_(None), fees.c.period_end <= now
                )
            ).scalars()
        )
        customer_ids |= set(
            conn.execute(
                select(subscriptions.c.customer_id).where(
                    subscriptions.c.status.in_((ACTIVE, ACTION_REQUIRED)), subscriptions.c.started_at <= now
                )
            ).scalars()
        )
        customer_ids |= {customer for customer, _ in accounts_due(conn, now)}
    if only is not None:
        customer_ids &= only
    for customer_id in sorted(customer_ids):
        with write(engine) as conn:
            lock_customer(conn, customer_id)
            # Entitlements first: a rollover must carry a grant's remainder before expiry writes it off.
            books = Books(conn, customer_id, now)
            report.entitlements_granted += entitlements.refresh(conn, customer_id, now, books, overdraft_limit)
            for _, account_id in accounts_due(conn, now, customer_id):
                books.book(account_id)
            books.flush()
            close_usage(conn, customer_id, now, report)
            for sub_id in conn.execute(
                select(subscriptions.c.id).where(
                    subscriptions.c.customer_id == customer_id,
                    subscriptions.c.status.in_((ACTIVE, ACTION_REQUIRED)),
                    subscriptions.c.started_at <= now,
                )
            ).scalars():
                collect_fixed(conn, sub_id, now, overdraft_limit, public_url, report)
    return report


def start_loop(
    engine: Engine, clock: Callable[[], datetime], interval: float, overdraft_limit: Decimal | None, public_url: str
) -> threading.Event:
    """Run the job every ``interval`` seconds in a daemon thread; set the returned event to stop."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(interval):
            try:
                report = run_due(engine, clock(), overdraft_limit, public_url)
                if report.fixed_charged or report.usage_charged or report.action_required:
                    log.info("billing_cycle", fixed=report.fixed_charged, usage=report.usage_charged, action_required=report.action_required)
            except Exception:  # noqa: BLE001 - the loop must survive a bad run; the next run retries
                log.exception("billing_cycle_failed")

    threading.Thread(target=loop, name="billing-cycle", daemon=True).start()
    return stop
