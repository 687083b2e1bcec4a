"""Demo data, in the default account's test environment: a credits asset priced in USD, a per-model
token product, two funded customers, and a test key (``key_test_…``) to try them with. Live data is
never touched: a platform trying Drawdown starts where it would integrate, in test."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import Connection

from drawdown.apikeys import service as api_keys
from drawdown.catalog import service as catalog
from drawdown.catalog.models import NewAsset, NewProduct, StartingRate
from drawdown.core.errors import Conflict
from drawdown.core.scopes import DEFAULT_TEST, Scope
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


@dataclass(frozen=True)
class Demo:
    secret: str
    customer_id: str  # demo-customer: no overdraft limit (the default), so usage always bills
    prepaid_id: str  # demo-prepaid: an overdraft limit of 0, so spend stops at the balance


def seed(settings: Settings) -> Demo:
    """The demo world, idempotent: running it again adds only a new API key."""
    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    now = datetime.now(UTC)
    limit = settings.overdraft_limit()
    scope = DEFAULT_TEST
    with write(engine) as conn:
        _catalog(conn, scope, now)
        customer_id = _customer(conn, scope, "demo-customer", "Demo Customer", now, limit)
        gift = Adjustment("demo-welcome-gift", "CREDITS", Decimal("10000"), "gift", description="Welcome credits")
        wallets.adjust(conn, scope, customer_id, gift, now, limit)
        prepaid_id = _customer(conn, scope, "demo-prepaid", "Prepaid Customer", now, limit)
        # Gate this one's spend: usage that would take CREDITS below zero is refused (docs/ledger.md).
        wallets.set_overdraft_limit(conn, scope, prepaid_id, "default:CREDITS", Decimal(0))
        small = Adjustment("demo-prepaid-gift", "CREDITS", Decimal("5"), "gift", description="A little credit")
        wallets.adjust(conn, scope, prepaid_id, small, now, limit)
        _, secret = api_keys.create(conn, scope, "demo", now)
    engine.dispose()
    return Demo(secret, customer_id, prepaid_id)


def _catalog(conn: Connection, scope: Scope, now: datetime) -> None:
    try:
        credits = NewAsset(
            code="CREDITS",
            name="Credits",
            precision=2,
            label="Credits",
            symbol="¢",
            rates=(StartingRate("USD", Decimal("0.01")),),
        )
        catalog.create_asset(conn, scope, credits, now)
    except Conflict:
        pass
    try:
        catalog.create_product(conn, scope, PRODUCT, now)
    except Conflict:
        pass


def _customer(
    conn: Connection, scope: Scope, external_id: str, name: str, now: datetime, limit: Decimal | None
) -> str:
    found = customers.find_by_external_id(conn, scope, external_id)
    if found is not None:
        return found
    plan = NewSubscription((ProductRef(code="ai-chat", version="default"),))
    new = NewCustomer(name=name, external_id=external_id, email=f"{external_id}@example.com", subscriptions=(plan,))
    return customers.create_customer(conn, scope, new, now, limit).id
