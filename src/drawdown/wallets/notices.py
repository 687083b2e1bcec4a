"""What a platform must hear about a wallet, found where the change is written: balance crossings
(``balance.low`` per alert threshold, ``balance.depleted``, ``balance.overdraft``), grants written off
(``grant.expired``) and entitlements issued (``entitlement.refreshed``).

A ``Ledger`` gathers notices while it plans (``Ledger.notices``; taken back with ``undo`` like the
rest of the plan) and while its rows are collected (``ledger_rows.collect``: balances before and after
the write). Whoever writes the rows publishes them in the same transaction (``publish``): a notice
commits with its change or not at all, and costs nothing when nothing is crossed.

Crossings are judged on ``available`` (live grants − debt − what is reserved − what open holds set
aside) before and after one write, under the customer's lock: each downward crossing is one notice,
however many events made it, and a threshold re-arms by itself once a later write lifts the balance
above it again.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection

from drawdown.core.money import from_scaled
from drawdown.webhooks import notify

Totals = tuple[int, int, int, int]  # debt, reserved, live, pending (nano), as ledger_rows writes them
Level = tuple[int, Decimal | None]  # (nano amount, the percentage it came from, or None if absolute)


@dataclass(frozen=True)
class Notice:
    customer_id: str
    topic: str
    data: dict[str, Any]


def available(t: Totals) -> int:
    debt, reserved, live, _ = t
    return live - debt - reserved


def levels(text: str | None) -> tuple[Level, ...]:
    """``wallet_accounts.alert_levels`` read back (NULL: no alerts)."""
    if not text:
        return ()
    return tuple((int(nano), None if pct is None else Decimal(pct)) for nano, pct in json.loads(text))


def levels_text(found: Iterable[Level]) -> str | None:
    kept = sorted(found, key=lambda lv: -lv[0])
    return json.dumps([[nano, None if pct is None else str(pct)] for nano, pct in kept]) if kept else None


def crossings(customer_id: str, name: str, asset: str, was: int, now: int,
              alert_levels: tuple[Level, ...]) -> list[Notice]:
    """The notices one write of an account makes, given what was available before and after it (nano,
    net of open holds): none unless it went down across a line (the common case, a debit that crosses
    nothing, costs a comparison or two)."""
    if now >= was:
        return []
    hit = [lv for lv in alert_levels if was >= lv[0] > now]
    depleted, overdrawn = was > 0 >= now, was >= 0 > now
    if not (hit or depleted or overdrawn):
        return []
    base = {"account_id": f"{name}:{asset}", "asset": asset, "available": from_scaled(now)}
    found = [Notice(customer_id, "balance.low", {**base, "threshold": _threshold(nano, pct)}) for nano, pct in hit]
    if depleted:
        found.append(Notice(customer_id, "balance.depleted", base))
    if overdrawn:
        found.append(Notice(customer_id, "balance.overdraft", base))
    return found


def _threshold(nano: int, pct: Decimal | None) -> dict[str, Any]:
    amount = from_scaled(nano)
    return {"amount": amount} if pct is None else {"percent": pct, "amount": amount}


def publish(conn: Connection, notices: list[Notice], now: datetime) -> None:
    """Write the notices into the webhooks outbox, in the caller's transaction, in order."""
    for n in notices:
        notify.announce(conn, n.customer_id, n.topic, n.data, now)
