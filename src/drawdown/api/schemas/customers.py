"""Customers and subscriptions, shaped as Credyt's API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from drawdown.api.schemas.common import UTC, Key, Metadata, Model, Name

Email = Annotated[str, StringConstraints(strip_whitespace=True, max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
Version = Annotated[int, Field(ge=1)] | Literal["default"]


class SubscriptionProduct(Model):
    id: Key | None = None
    code: Key | None = None
    version: Version | None = None

    @model_validator(mode="after")
    def _named(self) -> SubscriptionProduct:
        if not self.id and not self.code:
            raise ValueError("give the product's id or code")
        return self


class CreateSubscription(Model):
    starts_at: UTC | None = None
    renews_at: UTC | None = None
    products: list[SubscriptionProduct] = Field(min_length=1)
    return_url: str | None = None
    failure_url: str | None = None
    redirect_to: Literal["return_url", "portal"] | None = None


class ExternalAccount(Model):
    provider: Key
    provider_id: Key


class CreateCustomerRequest(Model):
    name: Name
    external_id: Key | None = None
    email: Email | None = None
    metadata: Metadata | None = None
    subscriptions: list[CreateSubscription] | None = None
    external_accounts: list[ExternalAccount] | None = None


class UpdateCustomerRequest(Model):
    name: Name | None = None
    external_id: Key | None = None
    email: Email | None = None


class UpdateSubscriptionRequest(Model):
    status: Literal["active", "inactive"]


class UpdateSubscriptionProductRequest(Model):
    version: Version


class RequiredAction(Model):
    type: str
    redirect_url: str


class CustomerSubscription(Model):
    id: str
    started_at: datetime | None = None
    renews_at: datetime | None = None
    status: str
    products: list[SubscriptionProduct]
    required_actions: list[RequiredAction] | None = None


class CreateCustomerResponse(Model):
    id: str
    subscriptions: list[CustomerSubscription]


class CustomerSummary(Model):
    id: str
    external_id: str | None = None
    name: str
    email: str | None = None
    active_subscription_count: int


class GetCustomerResponse(CustomerSummary):
    created_at: datetime
    metadata: dict[str, str] | None = None
    subscriptions: list[CustomerSubscription] | None = None
    external_accounts: list[ExternalAccount] | None = None
