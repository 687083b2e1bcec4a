"""Demo data: a credits asset priced in USD, a per-model token product, a funded customer."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from drawdown.apikeys import service as api_keys
from drawdown.catalog import service as catalog
from drawdown.catalog.models import NewAsset, NewProduct, StartingRate
from drawdown.core.errors import Conflict
from drawdown.customers import service as customers
from drawdown.customers.models import NewCustomer, NewSubscription, ProductRef
from drawdown.db.engine import make_engine, write
from drawdown.db.migrate import upgrade
from drawdown.settings import Settings
from drawdown.wallets import service as wallets
from drawdown.wallets.models import Adjustment

PRODUCT = NewProduct(
    name="AI Chat",
    code="ai-chat",
    publish=True,
    prices=[
        {
            "name": "Chat tokens",
            "type": "usage_based",
            "billing_model": {"type": "real_time"},
            "usage_calculation": {
                "event_type": "chat_completed",
                "usage_type": "volume",
                "volume_field": "tokens",
                "billable_dimensions": ["model"],
            },
            "pricing": [
                {
                    "asset": "CREDITS",
                    "values": [
                        {
                            "name": "Large model",
                            "dimensions": {"model": "gpt-large"},
                            "values": [{"volume_rate": Decimal("0.002")}],
                        },
                        {
                            "name": "Small model",
                            "dimensions": {"model": "gpt-small"},
                            "values": [{"volume_rate": Decimal("0.0005")}],
                        },
                        {
                            "name": "Other models",
                            "dimensions": {"model": "*"},
                            "values": [{"volume_rate": Decimal("0.001")}],
                        },
                    ],
                }
            ],
        }
    ],
)


def seed(settings: Settings) -> tuple[str, str]:
    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    now = datetime.now(UTC)
    with write(engine) as conn:
        try:
            catalog.create_asset(
                conn,
                NewAsset(
                    code="CREDITS",
                    name="Credits",
                    precision=2,
                    label="Credits",
                    symbol="¢",
                    rates=(StartingRate("USD", Decimal("0.01")),),
                ),
                now,
            )
        except Conflict:
            pass
        try:
            catalog.create_product(conn, PRODUCT, now)
        except Conflict:
            pass
        customer_id = customers.find_by_external_id(conn, "demo-customer")
        if customer_id is None:
            customer_id = customers.create_customer(
                conn,
                NewCustomer(
                    name="Demo Customer",
                    external_id="demo-customer",
                    email="demo@example.com",
                    subscriptions=(NewSubscription((ProductRef(code="ai-chat", version="default"),)),),
                ),
                now,
                settings.overdraft_limit(),
            ).id
        gift = Adjustment("demo-welcome-gift", "CREDITS", Decimal("10000"), "gift", description="Welcome credits")
        wallets.adjust(conn, customer_id, gift, now, settings.overdraft_limit())
        _, secret = api_keys.create(conn, "demo", now)
    engine.dispose()
    return secret, customer_id
