"""Accounts: a platform's own, or connected accounts a platform creates and acts inside."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from drawdown.core.scopes import Scope


@dataclass(frozen=True, slots=True)
class NewAccount:
    name: str
    external_id: str | None = None
    metadata: dict[str, str] | None = None


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    org_id: str
    name: str
    external_id: str | None
    metadata: dict[str, str] | None
    created_at: datetime
    parent_scope_id: int | None


@dataclass(frozen=True, slots=True)
class Context:
    """``GET /accounts/self``: where the caller acts."""

    scope: Scope
    org_id: str
    name: str
