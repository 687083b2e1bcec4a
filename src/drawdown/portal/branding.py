"""A scope's branding for the portal and the payment pages (``PUT/GET /billing-portal/settings``).

What is checked: the display name (1 to 100 characters), the colour (``#rrggbb``), the support link
and the logo (http:// or https:// addresses of at most 2,000 characters), and the logo's type by the
extension of its path (png, jpg, jpeg, svg or webp). The logo is never fetched, so its size in bytes
is not checked: pages show it in a 40 x 40 box (object-fit: contain), whatever its dimensions."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import Connection

from drawdown.core.errors import Invalid
from drawdown.core.scopes import Scope
from drawdown.portal import repository as repo
from drawdown.portal.contrast import Palette, palette
from drawdown.portal.models import Branding

_COLOR = re.compile(r"#[0-9a-fA-F]{6}")
LOGO_TYPES = (".png", ".jpg", ".jpeg", ".svg", ".webp")


def get(conn: Connection, scope: Scope) -> Branding:
    return repo.branding(conn, scope.id) or Branding()


def _web(path: str, value: str, errors: dict[str, list[str]]) -> None:
    parts = urlsplit(value)
    if len(value) > 2000:
        errors.setdefault(path, []).append("must be at most 2000 characters")
    elif parts.scheme not in ("http", "https") or not parts.netloc:
        errors.setdefault(path, []).append("must be an http:// or https:// address")


def check(b: Branding) -> None:
    errors: dict[str, list[str]] = {}
    if b.display_name is not None and not 1 <= len(b.display_name.strip()) <= 100:
        errors["display_name"] = ["must be 1 to 100 characters"]
    if b.primary_color is not None and not _COLOR.fullmatch(b.primary_color):
        errors["primary_color"] = ["must be a colour as #rrggbb, e.g. #0f766e"]
    if b.support_url is not None:
        _web("support_url", b.support_url, errors)
    if b.logo_url is not None:
        _web("logo_url", b.logo_url, errors)
        if "logo_url" not in errors and not urlsplit(b.logo_url).path.lower().endswith(LOGO_TYPES):
            errors["logo_url"] = ["must be an image: a .png, .jpg, .jpeg, .svg or .webp address"]
    if errors:
        raise Invalid(errors, "The branding settings are not valid")


def put(conn: Connection, scope: Scope, b: Branding, now: datetime) -> Branding:
    check(b)
    repo.put_branding(conn, scope.id, {
        "display_name": b.display_name.strip() if b.display_name else None, "logo_url": b.logo_url,
        "primary_color": b.primary_color.lower() if b.primary_color else None, "support_url": b.support_url,
        "updated_at": now,
    })
    return get(conn, scope)


@dataclass(frozen=True)
class Look:
    """What a page shows: the scope's branding where set, the operator's (settings) otherwise."""

    name: str
    logo: str | None
    color: str
    support: str | None

    @property
    def colors(self) -> Palette:
        """The brand colour with the text and line colours that keep it AA-readable (portal/contrast.py)."""
        return palette(self.color)


def look(conn: Connection, scope_id: int | None, name: str, logo: str | None, color: str) -> Look:
    b = repo.branding(conn, scope_id) if scope_id is not None else None
    if b is None:
        return Look(name, logo, color, None)
    return Look(b.display_name or name, b.logo_url or logo, b.primary_color or color, b.support_url)
