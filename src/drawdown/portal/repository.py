"""The portal sessions' and branding's SQL. A session is found by its id (the link or cookie names it
and carries the secret that proves it); everything a session then reads names its scope and customer."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from drawdown.db.tables import portal_sessions, portal_settings
from drawdown.portal.models import Branding, PortalSession

_s = portal_sessions.c


def as_session(r: Any) -> PortalSession:
    return PortalSession(r.id, r.scope_id, r.customer_id, r.return_url, r.failure_url, r.link_expires_at,
                         r.used_at, r.last_seen_at, r.created_at)


def insert_session(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(portal_sessions).values(**values))


def session_row(conn: Connection, session_id: str) -> Any:
    return conn.execute(select(portal_sessions).where(_s.id == session_id)).first()


def use_link(conn: Connection, session_id: str, session_hash: str, now: datetime) -> bool:
    """Mark the link used and start the session; False when it was used already (a race lost)."""
    done = conn.execute(
        update(portal_sessions).where(_s.id == session_id, _s.used_at.is_(None))
        .values(used_at=now, session_hash=session_hash, last_seen_at=now)
    )
    return done.rowcount == 1


def touch(conn: Connection, session_id: str, now: datetime) -> None:
    conn.execute(update(portal_sessions).where(_s.id == session_id).values(last_seen_at=now))


def end(conn: Connection, session_id: str) -> None:
    conn.execute(update(portal_sessions).where(_s.id == session_id).values(session_hash=None))


def branding(conn: Connection, scope_id: int) -> Branding | None:
    r = conn.execute(select(portal_settings).where(portal_settings.c.scope_id == scope_id)).first()
    if r is None:
        return None
    return Branding(r.display_name, r.logo_url, r.primary_color, r.support_url, r.updated_at)


def put_branding(conn: Connection, scope_id: int, values: dict[str, Any]) -> None:
    done = conn.execute(update(portal_settings).where(portal_settings.c.scope_id == scope_id).values(**values))
    if done.rowcount == 0:
        conn.execute(insert(portal_settings).values(scope_id=scope_id, **values))

