"""A scope's branding for the portal and the payment pages (``PUT/GET /billing-portal/settings``).

What is checked: the display name (1 to 100 characters), the colour (``#rrggbb``), the support link
(an http:// or https:// address of at most 2,000 characters) and the logo, given one of two ways:
- an http(s) address of at most 2,000 characters, its type checked by the extension of its path (png,
  jpg, jpeg, svg or webp). It is never fetched (a server that fetches addresses a platform names is a
  door into its network), so its size in bytes cannot be checked;
- the image itself, as a ``data:image/…;base64,`` address: its type (png, jpeg, webp or svg+xml) checked
  against its first bytes, and its size, at most LOGO_MAX_BYTES once decoded.
Pages show the logo in a 40 x 40 box (object-fit: contain), whatever its dimensions."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
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
LOGO_MAX_BYTES = 64 * 1024
_DATA = re.compile(r"data:(image/(?:png|jpeg|webp|svg\+xml));base64,([A-Za-z0-9+/]*={0,2})")
_MAGIC: dict[str, Callable[[bytes], bool]] = {
    "image/png": lambda b: b.startswith(b"\x89PNG\r\n\x1a\n"),
    "image/jpeg": lambda b: b.startswith(b"\xff\xd8\xff"),
    "image/webp": lambda b: b[:4] == b"RIFF" and b[8:12] == b"WEBP",
    "image/svg+xml": lambda b: b"<svg" in b[:1024].lower(),
}


def get(conn: Connection, scope: Scope) -> Branding:
    return repo.branding(conn, scope.id) or Branding()


def _web(path: str, value: str, errors: dict[str, list[str]]) -> None:
    parts = urlsplit(value)
    if len(value) > 2000:
        errors.setdefault(path, []).append("must be at most 2000 characters")
    elif parts.scheme not in ("http", "https") or not parts.netloc:
        errors.setdefault(path, []).append("must be an http:// or https:// address")


def _linked_logo(value: str) -> str | None:
    found: dict[str, list[str]] = {}
    _web("logo_url", value, found)
    if found:
        return found["logo_url"][0]
    if not urlsplit(value).path.lower().endswith(LOGO_TYPES):
        return "must be an image: a .png, .jpg, .jpeg, .svg or .webp address, or a data:image/… address"
    return None


def _embedded_logo(value: str) -> str | None:
    if len(value) > 2 * LOGO_MAX_BYTES:  # base64 is 4/3 of the bytes: refused before decoding anything
        return f"must be at most {LOGO_MAX_BYTES // 1024} KiB"
    found = _DATA.fullmatch(value)
    if found is None:
        return "must be data:image/png, image/jpeg, image/webp or image/svg+xml;base64,… with the image in base64"
    try:
        image = base64.b64decode(found.group(2), validate=True)
    except binascii.Error:
        return "must hold the image in valid base64"
    if len(image) > LOGO_MAX_BYTES:
        return f"must be at most {LOGO_MAX_BYTES // 1024} KiB (this one is {len(image) // 1024} KiB)"
    if not _MAGIC[found.group(1)](image):
        return f"is not a {found.group(1)} image (its first bytes say otherwise)"
    return None


def check(b: Branding) -> None:
    errors: dict[str, list[str]] = {}
    if b.display_name is not None and not 1 <= len(b.display_name.strip()) <= 100:
        errors["display_name"] = ["must be 1 to 100 characters"]
    if b.primary_color is not None and not _COLOR.fullmatch(b.primary_color):
        errors["primary_color"] = ["must be a colour as #rrggbb, e.g. #0f766e"]
    if b.support_url is not None:
        _web("support_url", b.support_url, errors)
    if b.logo_url is not None:
        problem = _embedded_logo(b.logo_url) if b.logo_url.startswith("data:") else _linked_logo(b.logo_url)
        if problem:
            errors["logo_url"] = [problem]
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
