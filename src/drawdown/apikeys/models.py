"""API keys: each belongs to one scope (an account's live or test environment)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from drawdown.core.scopes import Scope


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """What a verified key grants: its id and the scope it acts in."""

    id: str
    scope: Scope
    last_used_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class KeySummary:
    id: str
    name: str
    hint: str
    account_id: str
    environment: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
