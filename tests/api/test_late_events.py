"""A late event after a version move is priced with the version in force when it occurred, through the
official client on the injected clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from tests.api.helpers import available, gift, iso, make_asset
from tests.conftest import unique

T0 = datetime(2026, 7, 1, 9, 0, tzinfo=UTC)
MOVE = T0 + timedelta(days=10)


def _price(asset: str, unit_price: str) -> dict:
    return {"name": "Jobs", "type": "usage_based", "billing_model": {"type": "real_time"},
            "usage_calculation": {"event_type": "job", "usage_type": "unit"},
            "pricing": [{"asset": asset, "values": [{"unit_price": Decimal(unit_price)}]}]}


def _job(client, customer_id: str, at: datetime) -> tuple[int, Decimal]:
    """Send one job that occurred ``at``; (product version, amount) of its fee."""
    ev = {"id": unique("ev"), "event_type": "job", "occurred_at": iso(at), "data": {}}
    client.events.send_usage({"customer_id": customer_id, "events": [ev]})
    (fee,) = client.events.get(ev["id"])["fees"]
    return fee["product_version"], Decimal(str(fee["amount"]))


def test_a_late_event_after_a_version_move_is_priced_at_the_old_version(client, clock) -> None:
    asset = make_asset(client)
    clock.pinned = T0
    product = client.products.create(
        {"name": "Jobs", "code": unique("jobs"), "publish": True, "prices": [_price(asset, "1")]}
    )
    customer_id = client.customers.create({"name": "Late"})["id"]
    sub = client.customers.create_subscription(customer_id, {"products": [{"code": product["code"], "version": 1}]})
    gift(client, customer_id, asset, "100")
    assert _job(client, customer_id, T0 + timedelta(days=1)) == (1, Decimal(1))
    client.products.create_version(product["id"], {"prices": [_price(asset, "3")], "publish": True})
    clock.pinned = MOVE
    client.customers.update_subscription_product(customer_id, sub["id"], product["id"], {"version": 2})
    clock.pinned = MOVE + timedelta(days=1)
    assert _job(client, customer_id, T0 + timedelta(days=5)) == (1, Decimal(1))  # late: before the move
    assert _job(client, customer_id, clock.pinned) == (2, Decimal(3))
    assert available(client, customer_id, asset) == Decimal(95)
