"""Where webhooks may go: ``http(s)`` URLs only, and no private, loopback, link-local or otherwise
internal address (every address the host resolves to is checked) unless the operator allows them
(``DRAWDOWN_WEBHOOKS_ALLOW_PRIVATE=true``). Checked when a destination is saved and again before
every delivery (a name may resolve elsewhere later)."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

MAX_URL_LENGTH = 2048


def url_fault(url: str) -> str | None:
    """Why ``url`` cannot be a destination's address by its form alone, or None."""
    if len(url) > MAX_URL_LENGTH:
        return f"must be at most {MAX_URL_LENGTH} characters"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is not a number or out of range
    except ValueError as exc:
        return f"is not a valid URL ({exc})"
    if parts.scheme not in ("http", "https"):
        return "must be an http or https URL"
    if not parts.hostname:
        return "must name a host"
    if parts.username or parts.password:
        return "must not carry credentials"
    if any(c.isspace() for c in url):
        return "must not contain spaces"
    return None


def _forbidden(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def address_fault(url: str) -> str | None:
    """Why ``url``'s host may not be called (it resolves to a private address, or not at all), or None."""
    host = urlsplit(url).hostname or ""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return f"the host {host!r} does not resolve"
    addresses = {str(info[4][0]) for info in infos}
    bad = sorted(a for a in addresses if _forbidden(a))
    if bad:
        return (
            f"resolves to a private, loopback or link-local address ({bad[0]}); "
            "DRAWDOWN_WEBHOOKS_ALLOW_PRIVATE=true allows them"
        )
    return None


def check(url: str, allow_private: bool) -> str | None:
    """The reason ``url`` is refused as a destination, or None."""
    return url_fault(url) or (None if allow_private else address_fault(url))
