"""The scheduled billing job: for every customer with something due, refreshes entitlements, moves
grants along in time (pending -> live, expired -> written off), and runs ``billing.cycle``.

A customer has something due when a subscription's ``next_due_at`` has passed (``billing.schedule``),
recurring usage of an ended period is uncharged, a grant is due to go live or expire, or a hold has
passed its expiry (closed here: never later than one job interval): four index range scans, so a
run with nothing due costs the same at 100 customers as at 100,000.

Computed from stored state, so a run is idempotent and a late run catches up (every due period
without a ``period_charges`` row is charged once). ``serve`` runs it every
``DRAWDOWN_JOB_INTERVAL_SECONDS``; ``drawdown jobs run`` runs it once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

import structlog
from sqlalchemy import Connection, Engine

from drawdown.billing import repository as repo
from drawdown.billing import schedule
from drawdown.billing.cycle import close_usage, collect_fixed
from drawdown.billing.models import Report
from drawdown.db.engine import write
from drawdown.holds import repository as hold_sql
from drawdown.holds import service as holds
from drawdown.ops.metrics import JOB
from drawdown.wallets import entitlements
from drawdown.wallets.ledger import Ledger
from drawdown.wallets.repository import accounts_due, lock_customer

log = structlog.get_logger()


def run_due(
    engine: Engine, now: datetime, overdraft_limit: Decimal | None, public_url: str, only: set[str] | None = None
) -> Report:
    """Charge everything due at ``now`` (for the customers in ``only``, when given).

    Each customer is billed in its own transaction, so one customer's failure leaves the others billed.
    The run is recorded in this process's job metrics (``drawdown_job_*``).
    """
    started = time.time()
    try:
        report = _run_due(engine, now, overdraft_limit, public_url, only)
    except Exception:
        JOB.finished(started, 0, ok=False)
        raise
    JOB.finished(started, report.visited, ok=True)
    return report


def _run_due(
    engine: Engine, now: datetime, overdraft_limit: Decimal | None, public_url: str, only: set[str] | None
) -> Report:
    with engine.connect() as conn:
        customer_ids = repo.customers_with_usage_due(conn, now) | repo.customers_due(conn, now)
        customer_ids |= {customer for customer, _ in accounts_due(conn, now)}
        customer_ids |= hold_sql.customers_with_expired(conn, now)
    if only is not None:
        customer_ids &= only
    report = Report(visited=len(customer_ids))
    for customer_id in sorted(customer_ids):
        with write(engine) as conn:
            _bill_customer(conn, customer_id, now, overdraft_limit, public_url, report)
    return report


def _bill_customer(
    conn: Connection, customer_id: str, now: datetime, overdraft_limit: Decimal | None, public_url: str, report: Report
) -> None:
    lock_customer(conn, customer_id)
    # Holds past their expiry are closed (they stopped holding at expiry already: this records it).
    report.holds_expired += holds.expire_due(conn, customer_id, now)
    # Entitlements first: a rollover must carry a grant's remainder before expiry writes it off.
    ledger = Ledger(conn, customer_id, now)
    report.entitlements_granted += entitlements.refresh(conn, customer_id, now, ledger, overdraft_limit)
    for _, account_id in accounts_due(conn, now, customer_id):
        ledger.account(account_id)  # held accounts have their due grants written at flush
    ledger.flush()
    report.usage_charged += close_usage(conn, customer_id, now)
    billed = repo.billed_subscriptions(conn, customer_id, now)
    for sub_id in billed:
        collected = collect_fixed(conn, sub_id, now, overdraft_limit, public_url)  # writes next_due_at
        report.fixed_charged += collected.charged
        if collected.action_required:
            report.action_required.append(sub_id)
    # Any other subscription that looked due (not started, or no longer billed) is set right, or it
    # would bring the customer back on every run.
    for sub_id in set(repo.revisited_subscriptions(conn, customer_id, now)) - set(billed):
        schedule.write_next_due(conn, sub_id, now)


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
                    log.info(
                        "billing_cycle", fixed=report.fixed_charged, usage=report.usage_charged,
                        action_required=report.action_required,
                    )
            except Exception:  # the loop must survive a bad run; the next run retries
                log.exception("billing_cycle_failed")

    threading.Thread(target=loop, name="billing-cycle", daemon=True).start()
    return stop
