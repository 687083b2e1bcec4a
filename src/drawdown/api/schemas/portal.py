"""The billing portal's API shapes: sessions as Credyt's (CreateSessionRequest/Response), and the
branding settings (Drawdown extension)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import StringConstraints

from drawdown.api.schemas.common import Model
from drawdown.api.schemas.payments import Id, WebAddress

Short = Annotated[str, StringConstraints(max_length=2000)]
Logo = Annotated[str, StringConstraints(max_length=200_000)]  # a data: logo; portal/branding.py checks the rest


class CreateSessionRequest(Model):
    customer_id: Id
    return_url: WebAddress
    failure_url: WebAddress


class CreateSessionResponse(Model):
    redirect_url: str
    expires_at: datetime


class PortalSettings(Model):
    """Every field optional: an unset one leaves the operator's default on the pages."""

    display_name: Short | None = None
    logo_url: Logo | None = None
    primary_color: Short | None = None
    support_url: Short | None = None


class PortalSettingsResponse(PortalSettings):
    updated_at: datetime | None = None
