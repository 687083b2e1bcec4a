"""Balance alerts (Drawdown extension): ``/customers/{id}/wallet/{account}/alerts``."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import Field

from drawdown.api.schemas.common import Amount, Model


class AlertThreshold(Model):
    amount: Amount | None = Field(None, description="Units of the account's asset: alert when available falls below")
    percent: Amount | None = Field(None, description="A percentage (0 to 100] of the last top-up")


class AlertsRequest(Model):
    thresholds: list[AlertThreshold] = Field(description="1 to 10 thresholds; each crossing sends balance.low")


class AlertThresholdView(AlertThreshold):
    level: Decimal | None = Field(None, description="Where it stands now (a percentage: before any top-up, null)")
    below: bool = Field(description="available is under it now: it fired when crossed, and re-arms above it")


class AlertsResponse(Model):
    account_id: str
    asset: str
    available: Decimal
    last_top_up: Decimal | None
    thresholds: list[AlertThresholdView]
    updated_at: datetime
