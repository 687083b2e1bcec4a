"""Portal sessions: a single-use link, valid ``LINK_LIFE``, becomes a session cookie that ends after
``IDLE_LIFE`` without a request. Both are ``{session id}.{secret}``; only the secrets' SHA-256 is
stored, so a database read gives no way in. The id finds the session (and its failure_url, for a
link that is reused, expired or tampered with); the secret, compared in constant time, proves it.

The CSRF token of a session's forms is derived from its cookie secret (HMAC), so it needs no storage
and cannot be computed by a page that cannot read the HttpOnly cookie."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from drawdown.core.errors import Invalid, NotFound
from drawdown.core.ids import new_id
from drawdown.core.scopes import Scope
from drawdown.customers import service as customers
from drawdown.portal import repository as repo
from drawdown.portal.models import IDLE_LIFE, LINK_LIFE, PORTAL_SESSION, Created, NewSession, PortalSession


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _split(token: str) -> tuple[str, str] | None:
    session_id, dot, secret = token.partition(".")
    if not dot or not session_id or not secret or len(token) > 200:
        return None
    return session_id, secret


def create(conn: Connection, scope: Scope, cmd: NewSession, now: datetime) -> Created:
    """A session for one of the scope's customers; an unknown (or another scope's) customer is a 422."""
    try:
        customers.get_customer(conn, scope, cmd.customer_id, now)
    except NotFound:
        raise Invalid.field("customer_id", f"unknown customer {cmd.customer_id!r}") from None
    session_id, secret = new_id(PORTAL_SESSION), secrets.token_urlsafe(32)
    repo.insert_session(conn, {
        "id": session_id, "scope_id": scope.id, "customer_id": cmd.customer_id, "link_hash": _hash(secret),
        "return_url": cmd.return_url, "failure_url": cmd.failure_url, "link_expires_at": now + LINK_LIFE,
        "created_at": now,
    })
    row = repo.session_row(conn, session_id)
    return Created(repo.as_session(row), f"{session_id}.{secret}")


@dataclass(frozen=True)
class Opened:
    """A link's outcome: ``cookie`` when it opened; else ``failure_url`` (None: no session is named)."""

    cookie: str | None = None
    failure_url: str | None = None


def open_link(conn: Connection, token: str, now: datetime) -> Opened:
    parts = _split(token)
    row = None if parts is None else repo.session_row(conn, parts[0])
    if parts is None or row is None:
        return Opened()
    refused = Opened(failure_url=row.failure_url)
    if not hmac.compare_digest(row.link_hash, _hash(parts[1])):
        return refused  # tampered with, or forged around a real id
    if row.used_at is not None or now >= row.link_expires_at:
        return refused
    secret = secrets.token_urlsafe(32)
    if not repo.use_link(conn, row.id, _hash(secret), now):
        return refused  # opened twice at once: the other one won
    return Opened(cookie=f"{row.id}.{secret}")


@dataclass(frozen=True)
class Resumed:
    """A cookie's session while it lives (``session``); an ended one's return_url (``ended``)."""

    session: PortalSession | None = None
    ended: PortalSession | None = None


def resume(conn: Connection, cookie: str | None, now: datetime) -> Resumed:
    """The cookie's session, its idle time reset; nothing for an unknown, ended or idle one."""
    parts = None if not cookie else _split(cookie)
    row = None if parts is None else repo.session_row(conn, parts[0])
    if parts is None or row is None or row.session_hash is None:
        return Resumed()
    if not hmac.compare_digest(row.session_hash, _hash(parts[1])):
        return Resumed()
    if row.last_seen_at is None or now >= row.last_seen_at + IDLE_LIFE:
        return Resumed(ended=repo.as_session(row))
    repo.touch(conn, row.id, now)
    return Resumed(session=repo.as_session(row))


def end(conn: Connection, session: PortalSession) -> None:
    repo.end(conn, session.id)


def csrf_token(cookie: str) -> str:
    """The token every form of this session carries (a hidden field), checked on each POST."""
    return hmac.new(cookie.encode(), b"drawdown-portal-csrf", hashlib.sha256).hexdigest()


def csrf_ok(cookie: str, sent: str | None) -> bool:
    return bool(sent) and hmac.compare_digest(csrf_token(cookie), sent or "")
