"""Building blocks for API tests, all through the official client."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from tests.conftest import unique


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def make_asset(client: Any, rate: str = "0.01") -> str:
    code = unique("C").upper().replace("-", "")[:12]
    client.assets.create(
        {"code": code, "name": "Credits", "precision": 2, "rates": [{"source": "USD", "rate": Decimal(rate)}]}
    )
    return code


def token_product(client: Any, asset: str, **overrides: Any) -> dict:
    body = {
        "name": "Tokens",
        "code": unique("tokens"),
        "publish": True,
        "prices": [
            {
                "name": "Tokens by model",
                "type": "usage_based",
                "billing_model": {"type": "real_time"},
                "usage_calculation": {
                    "event_type": "completion",
                    "usage_type": "volume",
                    "volume_field": "tokens",
                    "billable_dimensions": ["model"],
                },
                "pricing": [
                    {
                        "asset": asset,
                        "values": [
                            {
                                "name": "Large",
                                "dimensions": {"model": "large"},
                                "values": [{"volume_rate": Decimal("0.000003")}],
                            },
                            {
                                "name": "Small",
                                "dimensions": {"model": "small"},
                                "values": [{"volume_rate": Decimal("0.000001")}],
                            },
                        ],
                    }
                ],
            }
        ],
    }
    body.update(overrides)
    return client.products.create(body)


def customer_on(client: Any, product_code: str, **fields: Any) -> str:
    body = {
        "name": "Ada",
        "external_id": unique("ext"),
        "subscriptions": [{"products": [{"code": product_code, "version": "default"}]}],
    }
    body.update(fields)
    return client.customers.create(body)["id"]


def gift(client: Any, customer_id: str, asset: str, amount: str, **extra: Any) -> dict:
    body = {"transaction_id": unique("adj"), "asset": asset, "amount": Decimal(amount), "reason": "gift", **extra}
    return client.wallets.customer_wallet_ops.create_adjustment(customer_id, body)


def event(event_id: str | None = None, **data: Any) -> dict:
    return {"id": event_id or unique("ev"), "event_type": "completion", "occurred_at": now_iso(), "data": data}


def available(client: Any, customer_id: str, asset: str) -> Decimal:
    account = client.wallets.customer_wallet_ops.get_account(customer_id, f"default:{asset}")
    return Decimal(str(account["available"]))
