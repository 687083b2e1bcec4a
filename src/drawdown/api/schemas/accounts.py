"""Accounts (Credyt's connected accounts and context) and API keys (a Drawdown extension)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from drawdown.api.schemas.common import Key, Metadata, Model, Name


class CreateAccountRequest(Model):
    name: Name
    external_id: Key | None = None
    metadata: Metadata | None = None


class CreateAccountResponse(Model):
    id: str


class ConnectedAccount(Model):
    id: str
    external_id: str | None = None
    name: str
    created_at: datetime
    metadata: dict[str, str] | None = None


class AccountContext(Model):
    account_id: str
    environment: Literal["live", "test"]
    org_id: str | None = None
    name: str | None = None


class CreateApiKeyRequest(Model):
    name: Name


class ApiKeySummary(Model):
    id: str
    name: str
    hint: str
    account_id: str
    environment: Literal["live", "test"]
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


class CreateApiKeyResponse(ApiKeySummary):
    secret: str
