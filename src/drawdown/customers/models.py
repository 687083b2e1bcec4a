"""What the customers room is asked to do (commands) and what it answers (results)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

VersionRef = int | str
"""A version number, or the string "default" for the product's default version."""

# Statuses a subscription is stored with; ``scheduled`` is only reported (active, starting later).
ACTIVE, INACTIVE, SCHEDULED = "active", "inactive", "scheduled"


# --------------------------------------------------------------------------------------- commands
@dataclass(frozen=True)
class ProductRef:
    """A product named by id or code (one at least), at a version (default: its default version)."""

    id: str | None = None
    code: str | None = None
    version: VersionRef | None = None


@dataclass(frozen=True)
class NewSubscription:
    products: tuple[ProductRef, ...]
    starts_at: datetime | None = None  # default: now
    renews_at: datetime | None = None  # default: the next boundary of its recurring prices
    return_url: str | None = None
    failure_url: str | None = None


@dataclass(frozen=True)
class ExternalAccount:
    provider: str
    provider_id: str


@dataclass(frozen=True)
class NewCustomer:
    name: str
    external_id: str | None = None
    email: str | None = None
    metadata: dict[str, str] | None = None
    external_accounts: tuple[ExternalAccount, ...] | None = None
    subscriptions: tuple[NewSubscription, ...] = ()


@dataclass(frozen=True)
class CustomerUpdate:
    """Fields to change; ``None`` leaves a field as it is."""

    name: str | None = None
    external_id: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class CustomerFilter:
    id: str | None = None
    email: str | None = None
    name: str | None = None
    status: str | None = None  # active: with an active subscription; inactive: without one


@dataclass(frozen=True)
class SubscriptionStatusChange:
    customer_id: str
    subscription_id: str
    status: str  # active | inactive


@dataclass(frozen=True)
class VersionMove:
    """Move a subscription's product to another version; its new fixed fees start at the next period."""

    customer_id: str
    subscription_id: str
    product_id: str
    version: VersionRef


# ---------------------------------------------------------------------------------------- results
@dataclass(frozen=True)
class SubscribedProduct:
    id: str
    code: str
    version: int


@dataclass(frozen=True)
class RequiredAction:
    type: str
    redirect_url: str


@dataclass(frozen=True)
class Subscription:
    id: str
    started_at: datetime
    renews_at: datetime | None
    status: str  # active | inactive | scheduled | action_required
    products: tuple[SubscribedProduct, ...]
    required_actions: tuple[RequiredAction, ...] | None


@dataclass(frozen=True)
class CustomerCreated:
    id: str
    subscriptions: tuple[Subscription, ...]


@dataclass(frozen=True)
class CustomerSummary:
    id: str
    external_id: str | None
    name: str
    email: str | None
    active_subscription_count: int


@dataclass(frozen=True)
class Customer:
    summary: CustomerSummary
    created_at: datetime
    metadata: dict[str, str] | None
    external_accounts: tuple[ExternalAccount, ...] | None
    subscriptions: tuple[Subscription, ...]
