"""wallets.service directly: adjustments, charges, replays, balances, grants and expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine

from drawdown.core.errors import Conflict, Invalid
from drawdown.core.scopes import DEFAULT_LIVE
from drawdown.db.engine import read, write
from drawdown.wallets import service as wallets
from drawdown.wallets.ledger import Ledger
from drawdown.wallets.models import Adjustment, Charge, GrantFilter, Movement, Recorded
from tests.worlds import account_id, make_asset, make_customer, transaction_count, unbalanced

D = Decimal
LIMIT = D(0)


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _world(engine: Engine, now: datetime, usd_rate: Decimal | None = None) -> tuple[str, str]:
    with write(engine) as conn:
        asset = make_asset(conn, now, usd_rate)
        return asset, make_customer(conn, now)


def test_credit_then_debit(engine: Engine) -> None:
    now = _now()
    asset, cid = _world(engine, now)
    with write(engine) as conn:
        assert wallets.adjust(
            conn, DEFAULT_LIVE, cid, Adjustment("t1", asset, D("10"), "gift"), now, LIMIT
        ) == Recorded("t1", now)
        wallets.adjust(conn, DEFAULT_LIVE, cid, Adjustment("t2", asset, D("-4"), "other"), now, LIMIT)
        b = wallets.balance(conn, DEFAULT_LIVE, cid, f"default:{asset}", now)
        assert (b.available, b.pending_in, b.pending_out, b.overdraft_limit) == (D(6), D(0), D(0), D(0))
        debit = wallets.transaction(conn, DEFAULT_LIVE, cid, "t2")
        assert (debit.type, debit.amount, debit.account_key) == ("adjustment", D(-4), f"default:{asset}")
        assert unbalanced(conn, cid) == []


def test_the_reason_decides_the_purpose_and_only_paid_value_has_a_revenue_basis(engine: Engine) -> None:
    now = _now()
    asset, cid = _world(engine, now, usd_rate=D("0.01"))
    with write(engine) as conn:
        for tid, reason in (("g", "gift"), ("p", "external_topup"), ("o", "other")):
            wallets.adjust(conn, DEFAULT_LIVE, cid, Adjustment(tid, asset, D(5), reason), now, LIMIT)
        views, total = wallets.grants(conn, DEFAULT_LIVE, cid, f"default:{asset}", GrantFilter(), 0, 10, now)
    by_source = {g.source_id: g for g in views}
    assert total == 3
    assert {k: g.purpose for k, g in by_source.items()} == {"g": "promotion", "p": "paid", "o": "promotion"}
    assert (by_source["p"].revenue_basis, by_source["p"].cost_basis, by_source["p"].basis_currency) == (
        D("0.01"), D("0.01"), "USD")
    assert (by_source["g"].revenue_basis, by_source["g"].cost_basis) == (None, D("0.01"))


def test_a_currency_amount_is_converted_at_the_rate_in_force_rounding_down(engine: Engine) -> None:
    now = _now()
    asset, cid = _world(engine, now, usd_rate=D("0.03"))
    with write(engine) as conn:
        wallets.adjust(
            conn, DEFAULT_LIVE, cid, Adjustment("c", asset, D(10), "external_topup", currency="USD"), now, LIMIT
        )
        bought = wallets.balance(conn, DEFAULT_LIVE, cid, f"default:{asset}", now).available
        assert bought == D("333.33")  # 333.333… down
        (grant,), _ = wallets.grants(conn, DEFAULT_LIVE, cid, f"default:{asset}", GrantFilter(), 0, 10, now)
        assert (grant.amount, grant.revenue_basis, grant.basis_currency) == (D("333.33"), D("0.03"), "USD")
        with pytest.raises(Invalid) as refused:  # 0.02 USD buys no whole 0.01 of the asset at 0.03
            tiny = Adjustment("tiny", asset, D("0.0002"), "external_topup", currency="USD")
            wallets.adjust(conn, DEFAULT_LIVE, cid, tiny, now, LIMIT)
        assert list(refused.value.errors) == ["amount"]


def test_a_replay_answers_as_before_and_a_changed_request_is_a_conflict(engine: Engine) -> None:
    now = _now()
    asset, cid = _world(engine, now)
    with write(engine) as conn:
        first = wallets.adjust(conn, DEFAULT_LIVE, cid, Adjustment("r", asset, D(7), "gift"), now, LIMIT)
        written = transaction_count(conn, cid)
        again = wallets.adjust(
            conn, DEFAULT_LIVE, cid, Adjustment("r", asset, D(7), "gift"), now + timedelta(hours=1), LIMIT
        )
        assert again == first == Recorded("r", now)
        assert transaction_count(conn, cid) == written
        with pytest.raises(Conflict):
            wallets.adjust(conn, DEFAULT_LIVE, cid, Adjustment("r", asset, D(8), "gift"), now, LIMIT)
        with pytest.raises(Conflict):  # same id, another kind of request
            wallets.charge(conn, DEFAULT_LIVE, cid, Charge("r", asset, D(7)), now, LIMIT)
        assert wallets.balance(conn, DEFAULT_LIVE, cid, f"default:{asset}", now).available == D(7)


def test_a_debit_past_the_limit_is_refused_naming_amount_and_writes_nothing(engine: Engine) -> None:
    now = _now()
    asset, cid = _world(engine, now)
    with write(engine) as conn:
        wallets.adjust(conn, DEFAULT_LIVE, cid, Adjustment("in", asset, D(10), "gift"), now, LIMIT)
        written = transaction_count(conn, cid)
        with pytest.raises(Invalid) as refused:
            wallets.adjust(conn, DEFAULT_LIVE, cid, Adjustment("out", asset, D(-20), "other"), now, LIMIT)
        assert refused.value.errors == {"amount": ["insufficient funds: needs 20, available 10, overdraft limit 0"]}
        assert transaction_count(conn, cid) == written
        assert wallets.balance(conn, DEFAULT_LIVE, cid, f"default:{asset}", now).available == D(10)


def test_a_charge_is_shown_as_a_fee_and_replays_write_nothing(engine: Engine) -> None:
    now = _now()
    asset, cid = _world(engine, now)
    with write(engine) as conn:
        wallets.adjust(conn, DEFAULT_LIVE, cid, Adjustment("in", asset, D(10), "gift"), now, LIMIT)
        wallets.charge(conn, DEFAULT_LIVE, cid, Charge("fee-1", asset, D("2.5"), description="setup"), now, LIMIT)
        written = transaction_count(conn, cid)
        wallets.charge(conn, DEFAULT_LIVE, cid, Charge("fee-1", asset, D("2.5"), description="setup"), now, LIMIT)
        assert transaction_count(conn, cid) == written
        view = wallets.transaction(conn, DEFAULT_LIVE, cid, "fee-1")
        assert (view.type, view.amount, view.description) == ("fee", D("-2.5"), "setup")
        with pytest.raises(Invalid) as refused:
            wallets.charge(conn, DEFAULT_LIVE, cid, Charge("fee-2", asset, D(8)), now, LIMIT)
        assert list(refused.value.errors) == ["amount"]
        assert wallets.balance(conn, DEFAULT_LIVE, cid, f"default:{asset}", now).available == D("7.5")


def test_balances_show_pending_in_and_pending_out(engine: Engine) -> None:
    now = _now()
    asset, cid = _world(engine, now)
    key = f"default:{asset}"
    with write(engine) as conn:
        wallets.adjust(conn, DEFAULT_LIVE, cid, Adjustment("now", asset, D(10), "gift"), now, LIMIT)
        later = Adjustment("later", asset, D(4), "gift", effective_at=now + timedelta(days=1))
        wallets.adjust(conn, DEFAULT_LIVE, cid, later, now, LIMIT)
        ledger = Ledger(conn, cid, now)
        ledger.reserve(account_id(conn, cid, asset), D(3))
        ledger.flush()
    with read(engine) as conn:
        (b,) = wallets.wallet(conn, DEFAULT_LIVE, cid, now)
        assert (b.key, b.available, b.pending_in, b.pending_out) == (key, D(7), D(4), D(3))
        # Once its time has come the pending grant reads as live, before anything is written.
        tomorrow = wallets.balance(conn, DEFAULT_LIVE, cid, key, now + timedelta(days=1))
        assert (tomorrow.available, tomorrow.pending_in, tomorrow.pending_out) == (D(11), D(0), D(3))


def test_grants_are_filtered(engine: Engine) -> None:
    now = _now()
    asset, cid = _world(engine, now)
    key = f"default:{asset}"
    with write(engine) as conn:
        wallets.adjust(conn, DEFAULT_LIVE, cid, Adjustment("a", asset, D(1), "gift"), now, LIMIT)
        b = Adjustment("b", asset, D(2), "external_topup", expires_at=now + timedelta(hours=1))
        wallets.adjust(conn, DEFAULT_LIVE, cid, b, now, LIMIT)
        c = Adjustment("c", asset, D(3), "external_topup", effective_at=now + timedelta(days=2))
        wallets.adjust(conn, DEFAULT_LIVE, cid, c, now, LIMIT)

    def ids(f: GrantFilter, at: datetime = now) -> tuple[list[str], int]:
        with read(engine) as conn:
            views, total = wallets.grants(conn, DEFAULT_LIVE, cid, key, f, 0, 10, at)
        return sorted(g.source_id for g in views), total

    assert ids(GrantFilter(purpose="paid")) == (["b", "c"], 2)
    assert ids(GrantFilter(exclude_expired=True), now + timedelta(hours=2)) == (["a", "c"], 2)
    assert ids(GrantFilter(effective_from=now + timedelta(days=1))) == (["c"], 1)
    assert ids(GrantFilter(expired_to=now + timedelta(hours=1))) == (["b"], 1)
    with read(engine) as conn:
        page, total = wallets.grants(conn, DEFAULT_LIVE, cid, key, GrantFilter(), 1, 1, now)
    assert (len(page), total) == (1, 3)
    with read(engine) as conn:
        later, _ = wallets.grants(conn, DEFAULT_LIVE, cid, key, GrantFilter(), 0, 10, now + timedelta(hours=2))
        expired = {g.source_id: g for g in later}
    assert (expired["b"].state, expired["b"].available, expired["b"].expired_amount) == ("expired", D(0), D(2))


def test_grant_history_lists_every_movement(engine: Engine) -> None:
    now = _now()
    asset, cid = _world(engine, now)
    key = f"default:{asset}"
    with write(engine) as conn:
        wallets.adjust(conn, DEFAULT_LIVE, cid, Adjustment("in", asset, D(10), "gift"), now, LIMIT)
        wallets.adjust(conn, DEFAULT_LIVE, cid, Adjustment("out", asset, D(-4), "other"), now, LIMIT)
        wallets.charge(conn, DEFAULT_LIVE, cid, Charge("fee", asset, D("1.5")), now, LIMIT)
        (grant,), _ = wallets.grants(conn, DEFAULT_LIVE, cid, key, GrantFilter(), 0, 10, now)
        history = wallets.grant_history(conn, DEFAULT_LIVE, cid, key, grant.id, now)
    assert history.grant.available == D("4.5")
    assert history.movements == [Movement("in", "adjustment", D(10), now), Movement("out", "adjustment", D(-4), now),
                                 Movement("fee", "charge", D("-1.5"), now)]


def test_an_expired_grant_is_written_off_when_the_ledger_next_flushes(engine: Engine) -> None:
    now = _now()
    asset, cid = _world(engine, now)
    key = f"default:{asset}"
    ends = now + timedelta(hours=1)
    with write(engine) as conn:
        wallets.adjust(conn, DEFAULT_LIVE, cid, Adjustment("short", asset, D(5), "gift", expires_at=ends), now, LIMIT)
        wallets.adjust(conn, DEFAULT_LIVE, cid, Adjustment("long", asset, D(2), "gift"), now, LIMIT)
        wallets.adjust(
            conn, DEFAULT_LIVE, cid, Adjustment("spend", asset, D(-1), "other"), now, LIMIT
        )  # from "short" first
        (short,) = [g for g in wallets.grants(
            conn, DEFAULT_LIVE, cid, key, GrantFilter(), 0, 10, now
        )[0] if g.source_id == "short"]
    later = now + timedelta(hours=2)
    with write(engine) as conn:
        ledger = Ledger(conn, cid, later)
        ledger.account(account_id(conn, cid, asset))
        ledger.flush()
    with read(engine) as conn:
        expiry = wallets.transaction(conn, DEFAULT_LIVE, cid, f"expiry:{short.id}")
        assert (expiry.type, expiry.amount, expiry.created_at) == ("expiry", D(-4), ends)
        history = wallets.grant_history(conn, DEFAULT_LIVE, cid, key, short.id, later)
        assert [(m.type, m.amount) for m in history.movements] == [
            ("adjustment", D(5)), ("adjustment", D(-1)), ("expiry", D(-4))]
        assert (history.grant.state, history.grant.expired_amount, history.grant.available) == ("expired", D(4), D(0))
        assert wallets.balance(conn, DEFAULT_LIVE, cid, key, later).available == D(2)
        assert unbalanced(conn, cid) == []


@pytest.mark.parametrize(
    ("cmd", "field"),
    [
        (Adjustment("z", "X", D(0), "gift"), "amount"),
        (Adjustment("d", "X", D(-1), "other", currency="USD"), "currency"),
        (Adjustment("e", "X", D(-1), "other", expires_at=datetime(2100, 1, 1, tzinfo=UTC)), "expires_at"),
    ],
)
def test_the_service_refuses_what_the_api_refuses_whoever_calls_it(engine: Engine, cmd: Adjustment, field: str) -> None:
    now = _now()
    asset, cid = _world(engine, now)
    with write(engine) as conn:
        wallets.adjust(conn, DEFAULT_LIVE, cid, Adjustment("seed", asset, D(5), "gift"), now, LIMIT)
    with pytest.raises(Invalid) as refused, write(engine) as conn:
        adjustment = Adjustment(
            cmd.transaction_id, asset, cmd.amount, cmd.reason, currency=cmd.currency, expires_at=cmd.expires_at
        )
        wallets.adjust(conn, DEFAULT_LIVE, cid, adjustment, now, LIMIT)
    assert field in refused.value.errors
    with read(engine) as conn:
        assert wallets.balance(conn, DEFAULT_LIVE, cid, f"default:{asset}", now).available == D(5)
