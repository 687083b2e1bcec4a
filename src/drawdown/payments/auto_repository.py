"""Auto top-up's SQL: the settings per wallet account (``auto_top_ups``), the threshold the debit path
reads (``wallet_accounts.auto_threshold``), and the auto top-ups the worker claims."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from drawdown.db.tables import auto_top_ups, top_ups, wallet_accounts

_s = auto_top_ups.c
_t = top_ups.c
_w = wallet_accounts.c

PAUSE_AFTER = 3  # consecutive failed charges


# ---------------------------------------------------------------------------------- settings
def setting(conn: Connection, account_id: str) -> Any:
    return conn.execute(select(auto_top_ups).where(_s.account_id == account_id)).first()


def save(conn: Connection, values: dict[str, Any]) -> None:
    """Insert or replace an account's setting (the caller holds the customer lock)."""
    account_id = values["account_id"]
    if setting(conn, account_id) is None:
        conn.execute(insert(auto_top_ups).values(**values))
    else:
        rest = {k: v for k, v in values.items() if k not in ("account_id", "created_at")}
        conn.execute(update(auto_top_ups).where(_s.account_id == account_id).values(**rest))
    _follow(conn, account_id)


def remove(conn: Connection, account_id: str) -> None:
    conn.execute(delete(auto_top_ups).where(_s.account_id == account_id))
    _follow(conn, account_id)


def _follow(conn: Connection, account_id: str) -> None:
    """wallet_accounts.auto_threshold mirrors the setting: its threshold while on and not paused, else
    NULL, so the debit path needs no other read to know whether to look."""
    found = setting(conn, account_id)
    armed = found is not None and found.enabled and found.paused_at is None
    conn.execute(
        update(wallet_accounts).where(_w.id == account_id).values(auto_threshold=found.threshold if armed else None)
    )


def record_failure(conn: Connection, account_id: str, now: datetime) -> bool:
    """One more consecutive failure; True when it pauses the setting."""
    found = setting(conn, account_id)
    if found is None:
        return False
    failures = int(found.failures) + 1
    pause = failures >= PAUSE_AFTER and found.paused_at is None
    values: dict[str, Any] = {"failures": failures, "updated_at": now}
    if pause:
        values["paused_at"] = now
    conn.execute(update(auto_top_ups).where(_s.account_id == account_id).values(**values))
    _follow(conn, account_id)
    return pause


def record_success(conn: Connection, account_id: str, now: datetime) -> None:
    conn.execute(update(auto_top_ups).where(_s.account_id == account_id, _s.failures > 0)
                 .values(failures=0, updated_at=now))


def resume_following_default(conn: Connection, customer_id: str, now: datetime) -> None:
    """The customer chose another default card: settings that charge the default card resume."""
    paused = conn.execute(
        select(_s.account_id).where(_s.customer_id == customer_id, _s.paused_at.is_not(None),
                                    _s.payment_method.is_(None))
    ).scalars().all()
    for account_id in paused:
        conn.execute(update(auto_top_ups).where(_s.account_id == account_id)
                     .values(paused_at=None, failures=0, updated_at=now))
        _follow(conn, account_id)


# ------------------------------------------------------------------------------- auto top-ups
def attempts(conn: Connection, customer_id: str, name: str, asset: str, limit: int) -> list[Any]:
    return list(conn.execute(
        select(top_ups)
        .where(_t.customer_id == customer_id, _t.account_name == name, _t.asset == asset, _t.kind == "auto")
        .order_by(_t.created_at.desc(), _t.id.desc())
        .limit(limit)
    ))


def cancel_waiting(conn: Connection, customer_id: str, name: str, asset: str, message: str, now: datetime) -> None:
    """Auto top-ups not yet claimed by the worker end ``failed`` (auto top-up was turned off); one
    already at Stripe (``pending``) finishes as Stripe decides."""
    conn.execute(
        update(top_ups)
        .where(_t.customer_id == customer_id, _t.account_name == name, _t.asset == asset, _t.kind == "auto",
               _t.status == "initiated")
        .values(status="failed", failure_message=message, updated_at=now)
    )


def waiting(conn: Connection, limit: int) -> list[str]:
    """Auto top-ups recorded and not yet claimed, oldest first."""
    return list(conn.execute(
        select(_t.id).where(_t.kind == "auto", _t.status == "initiated").order_by(_t.created_at).limit(limit)
    ).scalars())


def stalled(conn: Connection, before: datetime, limit: int) -> list[str]:
    """Auto top-ups claimed (``pending``) and untouched since ``before``: their worker died or hung."""
    return list(conn.execute(
        select(_t.id)
        .where(_t.kind == "auto", _t.status == "pending", _t.updated_at < before)
        .order_by(_t.updated_at)
        .limit(limit)
    ).scalars())


def claim(conn: Connection, top_up_id: str, status: str, stalled_before: datetime | None, now: datetime) -> bool:
    """Take an auto top-up for charging: ``initiated`` -> ``pending``, or a ``pending`` one untouched
    since ``stalled_before``. A compare-and-set: of two workers, exactly one wins (the winner moves
    ``updated_at`` to now, out of the other's condition)."""
    where = [_t.id == top_up_id, _t.status == status]
    if stalled_before is not None:
        where.append(_t.updated_at < stalled_before)
    done = conn.execute(update(top_ups).where(*where).values(status="pending", updated_at=now))
    return done.rowcount == 1


def account_id(conn: Connection, customer_id: str, name: str, asset: str) -> str | None:
    return conn.execute(
        select(_w.id).where(_w.customer_id == customer_id, _w.name == name, _w.asset == asset)
    ).scalar()
