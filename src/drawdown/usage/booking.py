"""Stage 6, book: the event row, its fees, the tier positions they move, and the ledger: a real-time
fee is debited now, drawing grants by priority, then overdraft, into its account's one ``usage``
transaction of the commit, which the fee row names (``wallets.ledger.Ledger.spend``); a recurring
fee reserves its amount until ``billing.cycle`` charges the period. The limit was checked by
``funding``; it is not checked again here. A fee in the account of the open hold its event names is
settled against it first (``holds.service.settle``): what the hold pays stops being held, and the fee
is then debited like any other, so grants are drawn by the same priority rules and revenue is
recognised as before."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from drawdown.core.grants import DebitPlan
from drawdown.core.ids import FEE, new_id
from drawdown.core.money import quantize, to_scaled
from drawdown.holds import service as holds
from drawdown.usage.funding import Funded
from drawdown.usage.group import Group, Turn
from drawdown.usage.models import UsageEvent
from drawdown.usage.rating import RatedFee


@dataclass(frozen=True)
class BookedFee:
    fee: RatedFee
    account_id: str
    debit: DebitPlan | None  # how it was drawn; None while reserved for a recurring charge


def book(
    group: Group, turn: Turn, event: UsageEvent, digest: str, fees: list[RatedFee], funded: Funded
) -> tuple[int, list[BookedFee]]:
    """(the event's slot among the group's event rows, its fees as booked)."""
    customer, accounts, hold = turn.customer, funded.accounts, funded.hold
    turn.added[event.id] = digest
    slot = len(group.rows.events)
    group.rows.events.append(
        {
            "scope_id": customer.scope_id,
            "id": event.id,
            "customer_id": customer.id,
            "event_type": event.event_type,
            "occurred_at": event.occurred_at,
            "subject": event.subject,
            "description": event.description,
            "data": event.data,
            "costs": event.cost_docs(),
            "request_hash": digest,
            "created_at": group.now,
        }
    )
    booked = []
    for fee in fees:
        fee_id, account_id = new_id(FEE), accounts[fee.asset]
        if fee.position is not None:
            group.positions.move(fee.position, fee.rated.quantity)
        if hold is not None and hold.account_id == account_id:
            holds.settle(group.holds, customer.ledger, hold, fee_id, event.id, fee.amount)
        plan, charge_id = None, None
        if fee.period is not None:
            customer.ledger.reserve(account_id, fee.amount, funded=True)
        else:
            charge_id, plan = customer.ledger.spend(account_id, fee.amount, fee.priced.price.name)
        group.rows.fees.append((slot, fee_row(fee_id, customer.id, account_id, fee, group.now, charge_id)))
        booked.append(BookedFee(fee, account_id, plan))
    return slot, booked


def fee_row(
    fee_id: str, customer_id: str, account_id: str, fee: RatedFee, now: datetime, charge_id: str | None
) -> dict[str, Any]:
    priced, r = fee.priced, fee.rated
    price = priced.price
    return {
        "id": fee_id,
        "customer_id": customer_id,
        "account_id": account_id,
        "subscription_id": priced.subscription_id,
        "billing": price.billing,
        "period_start": fee.period.start if fee.period else None,
        "period_end": fee.period.end if fee.period else None,
        "product_id": priced.product_id,
        "product_code": priced.product_code,
        "product_version": priced.version,
        "price_id": price.id,
        "price_name": price.name,
        "asset": r.asset,
        "dimensions": r.dimensions,
        "usage_type": price.usage_type,
        "volume_field": price.volume_field,
        "input_volume": _scaled(r.input_volume),
        "unit_price": _scaled(r.value.unit_price),
        "volume_rate": _scaled(r.value.volume_rate),
        "package_size": r.value.package_size,
        "description": r.description,
        "amount": to_scaled(r.amount),
        "charge_id": charge_id,
        "created_at": now,
    }


def _scaled(v: Decimal | None) -> int | None:
    return None if v is None else to_scaled(quantize(v))
