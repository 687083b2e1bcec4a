"""Wallets, accounts, grants, adjustments, charges and transactions, shaped as Credyt's API."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from drawdown.api.schemas.common import UTC, Amount, AssetCode, Key, Metadata, Model, NonNegativeAmount, Text

AccountName = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_\-]+$")]


class CreateAdjustmentRequest(Model):
    transaction_id: Key
    account_name: AccountName | None = None
    asset: AssetCode
    amount: Amount
    description: Text | None = None
    reason: Literal["gift", "external_topup", "external_refund", "other"]
    effective_at: UTC | None = None
    expires_at: UTC | None = None
    metadata: Metadata | None = None
    currency: AssetCode | None = Field(
        None,
        description="Drawdown extension: the amount is in this fiat currency, credited in `asset` at the rate in force",
    )

    @model_validator(mode="after")
    def _shape(self) -> CreateAdjustmentRequest:
        if self.amount == 0:
            raise ValueError("amount: must not be zero")
        if self.amount < 0 and (self.effective_at or self.expires_at):
            raise ValueError("effective_at and expires_at apply to credits (positive amounts) only")
        if self.effective_at and self.expires_at and self.expires_at <= self.effective_at:
            raise ValueError("expires_at must be after effective_at")
        if self.currency and self.amount < 0:
            raise ValueError("currency applies to credits (positive amounts) only")
        return self


class CreateAdjustmentResponse(Model):
    id: str
    created_at: datetime


class CreateChargeRequest(Model):
    transaction_id: Key
    account_name: AccountName | None = None
    asset: AssetCode
    subject: Annotated[str, StringConstraints(max_length=500)] | None = None
    description: Text | None = None
    metadata: Metadata | None = None
    input_units: NonNegativeAmount | None = None
    input_volume: NonNegativeAmount | None = None
    unit_price: NonNegativeAmount | None = None
    volume_rate: NonNegativeAmount | None = None
    package_size: NonNegativeAmount | None = None
    amount: Annotated[NonNegativeAmount, Field(gt=0)]


class WalletAccountSummary(Model):
    id: str
    name: str
    asset: str
    available: Decimal


class AccountDetails(WalletAccountSummary):
    pending_in: Decimal
    pending_out: Decimal
    overdraft_limit: Decimal | None = None
    held: Decimal = Decimal(0)  # Drawdown extension: set aside by open holds, already out of available


class GetWalletResponse(Model):
    accounts: list[WalletAccountSummary]


class GrantSource(Model):
    type: str
    id: str


class CreditGrantItem(Model):
    id: str
    available: Decimal
    effective_at: datetime
    expires_at: datetime | None
    purpose: str
    created_at: datetime
    amount: Decimal
    expired_amount: Decimal
    state: str
    expired_at: datetime | None = None
    priority: int
    source: GrantSource
    revenue_basis: Decimal | None = None
    cost_basis: Decimal | None = None
    basis_currency: str | None = None


class GrantMovement(Model):
    transaction_id: str
    type: str
    amount: Decimal
    at: datetime


class CreditGrantDetail(CreditGrantItem):
    history: list[GrantMovement]


class FeeShare(Model):
    """Drawdown extension: one fee of a usage transaction."""

    id: str
    event_id: str
    amount: Decimal


class GetTransactionResponse(Model):
    id: str
    type: str
    account_id: str
    asset: str
    amount: Decimal
    description: str | None = None
    metadata: dict[str, str] | None = None
    created_at: datetime
    executed_at: datetime | None = None
    # Drawdown extensions. A commit's real-time fees of one account are booked in one transaction:
    # read by its id, it lists them (``fees``); read by a fee's id, it answers that fee's part and names
    # the transaction it was booked in (``booked_in``).
    booked_in: str | None = None
    fees: list[FeeShare] | None = None


class UpdateAccountRequest(Model):
    """Drawdown extension: set an account's overdraft limit (null = unlimited)."""

    overdraft_limit: NonNegativeAmount | None
