"""The portal's values: sessions (a link, then a cookie) and a scope's branding."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

PORTAL_SESSION: Final = "ps"
LINK_LIFE: Final = timedelta(minutes=10)  # an unused link
IDLE_LIFE: Final = timedelta(minutes=10)  # a session nobody uses


@dataclass(frozen=True)
class NewSession:
    customer_id: str
    return_url: str
    failure_url: str


@dataclass(frozen=True)
class PortalSession:
    id: str
    scope_id: int
    customer_id: str
    return_url: str
    failure_url: str
    link_expires_at: datetime
    used_at: datetime | None
    last_seen_at: datetime | None
    created_at: datetime


@dataclass(frozen=True)
class Created:
    session: PortalSession
    link_token: str  # ``{id}.{secret}``: shown once, only its hash is kept


@dataclass(frozen=True)
class Branding:
    display_name: str | None = None
    logo_url: str | None = None
    primary_color: str | None = None
    support_url: str | None = None
    updated_at: datetime | None = None

