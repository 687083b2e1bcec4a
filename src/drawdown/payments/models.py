"""What the payments room is asked (commands) and answers (results)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Final

# Status of a top-up: a payment page opened but not yet paid, a payment in progress at Stripe, and
# the three ends. Only ``succeeded`` credits the wallet, exactly once.
INITIATED: Final = "initiated"
PENDING: Final = "pending"
SUCCEEDED: Final = "succeeded"
FAILED: Final = "failed"
EXPIRED: Final = "expired"
OPEN: Final = (INITIATED, PENDING)

# Kinds: through POST /top-ups, charged off-session by auto top-up, or paying a blocked subscription.
API: Final = "api"
AUTO: Final = "auto"
SUBSCRIPTION: Final = "subscription"

DEFAULT_ACCOUNT_NAME: Final = "default"


@dataclass(frozen=True)
class NewTopUp:
    customer_id: str
    amount: Decimal
    currency: str
    return_url: str | None
    failure_url: str | None
    asset: str | None = None  # default: the currency itself
    account_name: str | None = None
    exchange_rate: Decimal | None = None  # currency per unit of asset; default: the rate in force
    credit_expires_at: datetime | None = None
    description: str | None = None
    metadata: dict[str, str] | None = None
    kind: str = API
    subscription_id: str | None = None


@dataclass(frozen=True)
class TopUp:
    id: str
    scope_id: int
    customer_id: str
    kind: str
    status: str
    amount: Decimal
    currency: str
    asset: str
    account_name: str
    exchange_rate: Decimal | None
    credit_expires_at: datetime | None
    description: str | None
    metadata: dict[str, str] | None
    return_url: str | None
    failure_url: str | None
    subscription_id: str | None
    page_token: str
    payment_intent: str | None
    payment_method: str | None
    save_card: bool
    failure_message: str | None
    credited: Decimal | None
    grant_id: str | None
    refunded: Decimal
    expires_at: datetime
    created_at: datetime
    updated_at: datetime
    settled_at: datetime | None

    @property
    def account_key(self) -> str:
        return f"{self.account_name}:{self.asset}"


# A refund's life: the units are taken out of the grant while it is ``pending`` (Stripe is being
# asked), then it ends ``succeeded`` or ``failed`` (the units put back).
REFUND_PENDING: Final = "pending"
REFUND_SUCCEEDED: Final = "succeeded"
REFUND_FAILED: Final = "failed"


@dataclass(frozen=True)
class Refund:
    id: str
    top_up_id: str
    amount: Decimal  # money given back, in the top-up's currency
    units: Decimal  # units of the top-up's asset taken out of its grant for it
    status: str
    stripe_refund: str | None
    transaction_id: str | None  # the wallet transaction that took the units out
    failure_message: str | None
    created_at: datetime
    settled_at: datetime | None


# ---------------------------------------------------------------------------- saved cards
@dataclass(frozen=True)
class SavedCard:
    """A card kept at Stripe for the customer: a PaymentMethod (``pm_…``) or a card source (``card_…``)."""

    id: str
    brand: str | None
    last4: str | None
    exp_month: int | None
    exp_year: int | None
    is_default: bool


# ---------------------------------------------------------------------------- auto top-up
@dataclass(frozen=True)
class AutoTopUpSetting:
    """What PUT /customers/{id}/wallet/{account}/auto-top-up asks: amounts in units of the account's asset."""

    enabled: bool
    threshold: Decimal
    amount: Decimal
    payment_method_id: str | None = None  # None: the customer's default card when charged
    monthly_limit: Decimal | None = None


@dataclass(frozen=True)
class AutoTopUpAttempt:
    id: str
    status: str
    amount: Decimal  # money, in ``currency``
    currency: str
    credited: Decimal | None
    message: str | None
    created_at: datetime
    settled_at: datetime | None


@dataclass(frozen=True)
class AutoTopUpView:
    account_id: str  # name:ASSET
    enabled: bool
    threshold: Decimal
    amount: Decimal
    payment_method_id: str | None
    monthly_limit: Decimal | None
    failures: int  # consecutive failed charges; 3 pause the setting
    paused_at: datetime | None
    attempts: tuple[AutoTopUpAttempt, ...]  # the latest first
