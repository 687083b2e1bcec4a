"""The Ledger directly: mark/undo, shortfall, funded debits and reservations."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import Connection, Engine, func, select

from drawdown.core.grants import InsufficientFunds
from drawdown.core.ledger import REVENUE, wallet_account
from drawdown.core.money import from_scaled
from drawdown.core.scopes import DEFAULT_LIVE
from drawdown.db.engine import read, write
from drawdown.db.tables import credit_grants, ledger_entries, wallet_accounts
from drawdown.wallets import repository
from drawdown.wallets import service as wallets
from drawdown.wallets.ledger import Ledger
from drawdown.wallets.models import Adjustment, GrantFilter
from tests.worlds import account_id, make_asset, make_customer, transaction_count, unbalanced

D = Decimal


def _funded(engine: Engine, amount: Decimal = D(10)) -> tuple[datetime, str, str, str]:
    """(now, asset, customer, its default account) holding ``amount`` with overdraft limit 0."""
    now = datetime.now(UTC).replace(microsecond=0)
    with write(engine) as conn:
        asset = make_asset(conn, now)
        cid = make_customer(conn, now)
        wallets.adjust(conn, DEFAULT_LIVE, cid, Adjustment("in", asset, amount, "gift"), now, D(0))
        return now, asset, cid, account_id(conn, cid, asset)


def _fee(tid: str) -> dict[str, str]:
    return {"transaction_id": tid, "type": "fee"}


def test_undo_takes_back_a_planned_debit_and_an_opened_account(engine: Engine) -> None:
    now, asset, cid, aid = _funded(engine)
    with write(engine) as conn:
        ledger = Ledger(conn, cid, now)
        ledger.debit(aid, D(3), REVENUE, _fee("kept"))
        mark = ledger.mark()
        ledger.debit(aid, D(4), REVENUE, _fee("undone"))
        other = ledger.open("other", asset, D(0))
        assert ledger.find("other", asset) == other
        assert ledger.account(aid).grants[0].remaining == D(3)
        ledger.undo(mark)
        assert ledger.find("other", asset) is None
        assert ledger.account(aid).grants[0].remaining == D(7)
        assert [p.row["transaction_id"] for p in ledger.planned] == ["kept"]
        ledger.flush()
    with read(engine) as conn:
        assert repository.balances(conn, aid, now)["available"] == D(7)
        assert repository.account_by_key(conn, cid, "other", asset) is None
        assert repository.transaction_by_key(conn, cid, "undone") is None
        assert unbalanced(conn, cid) == []


def test_shortfall_says_what_was_needed_and_what_was_there(engine: Engine) -> None:
    now, _, cid, aid = _funded(engine)
    with read(engine) as conn:
        ledger = Ledger(conn, cid, now)
        assert ledger.shortfall(aid, D(10)) is None
        short = ledger.shortfall(aid, D("10.5"))
        assert isinstance(short, InsufficientFunds)
        assert (short.needed, short.available, short.overdraft_limit) == (D("10.5"), D(10), D(0))
        assert ledger.planned == []  # asking changes nothing


def test_a_debit_past_the_limit_raises_unless_funded(engine: Engine) -> None:
    now, _, cid, aid = _funded(engine)
    with write(engine) as conn:
        ledger = Ledger(conn, cid, now)
        with pytest.raises(InsufficientFunds) as refused:
            ledger.debit(aid, D(12), REVENUE, _fee("refused"))
        assert (refused.value.needed, refused.value.available) == (D(12), D(10))
        assert ledger.planned == [] and ledger.account(aid).grants[0].remaining == D(10)
        plan = ledger.debit(aid, D(12), REVENUE, _fee("funded"), funded=True)
        assert plan.debt_added == D(2)
        ledger.flush()
    with read(engine) as conn:
        assert repository.balances(conn, aid, now)["available"] == D(-2)
        row = conn.execute(wallet_accounts.select().where(wallet_accounts.c.id == aid)).one()
        assert (from_scaled(row.debt), from_scaled(row.live_total)) == (D(2), D(0))
        assert unbalanced(conn, cid) == []


def test_reserve_holds_value_and_a_release_collects_it_without_checking_again(engine: Engine) -> None:
    now, _, cid, aid = _funded(engine)
    with write(engine) as conn:
        ledger = Ledger(conn, cid, now)
        ledger.reserve(aid, D(8))
        assert ledger.shortfall(aid, D(3)) is not None  # 10 - 8 leaves 2
        with pytest.raises(InsufficientFunds) as refused:
            ledger.reserve(aid, D(3))
        assert (refused.value.needed, refused.value.available) == (D(3), D(2))
        ledger.reserve(aid, D(3), funded=True)
        assert ledger.account(aid).reserved == D(11)
        written = transaction_count(conn, cid)
        ledger.flush()
        assert transaction_count(conn, cid) == written  # a reservation is no transaction
    with read(engine) as conn:
        b = repository.balances(conn, aid, now)
        assert (b["available"], b["pending_out"]) == (D(-1), D(11))
    with write(engine) as conn:
        ledger = Ledger(conn, cid, now)
        ledger.debit(aid, D(8), REVENUE, _fee("collected"), release=D(8))
        ledger.flush()
    with read(engine) as conn:
        b = repository.balances(conn, aid, now)
        assert (b["available"], b["pending_out"]) == (D(-1), D(3))
        assert unbalanced(conn, cid) == []


def _entries_total(conn: Connection, aid: str) -> Decimal:
    total = conn.execute(select(func.coalesce(func.sum(ledger_entries.c.amount), 0))
                         .where(ledger_entries.c.account == wallet_account(aid))).scalar_one()
    return from_scaled(int(total))


def test_a_credit_settles_debt_first_and_the_account_entries_match_its_value(engine: Engine) -> None:
    now, asset, cid, aid = _funded(engine, D(1))
    with write(engine) as conn:
        ledger = Ledger(conn, cid, now)
        ledger.debit(aid, D(3), REVENUE, _fee("into-debt"), funded=True)
        ledger.flush()
        assert _entries_total(conn, aid) == D(-2)  # no grant value left, 2 owed
        wallets.adjust(conn, DEFAULT_LIVE, cid, Adjustment("pay", asset, D(5), "gift"), now, D(0))
    with read(engine) as conn:
        row = conn.execute(wallet_accounts.select().where(wallet_accounts.c.id == aid)).one()
        grants, _ = wallets.grants(conn, DEFAULT_LIVE, cid, f"default:{asset}", GrantFilter(), 0, 10, now)
        assert from_scaled(row.debt) == D(0)
        assert sorted(g.available for g in grants) == [D(0), D(3)]
        assert _entries_total(conn, aid) == sum((g.available for g in grants), D(0)) == D(3)
        assert unbalanced(conn, cid) == []


def test_fees_spent_in_one_unit_of_work_are_booked_as_one_usage_transaction(engine: Engine) -> None:
    """Three fees: one undone, two kept; the second kept one runs past the grant into overdraft. One
    usage transaction of their sum, its entries summed per grant: the grant, the overdraft, revenue."""
    now, asset, cid, aid = _funded(engine, D(5))
    with write(engine) as conn:
        ledger = Ledger(conn, cid, now)
        ledger.account(aid).overdraft_limit = None
        first, plan = ledger.spend(aid, D(3), "Tokens")
        assert [d.amount for d in plan.draws] == [D(3)] and plan.debt_added == 0
        mark = ledger.mark()
        assert ledger.spend(aid, D(1), "Images")[0] == first
        ledger.undo(mark)
        second, plan = ledger.spend(aid, D("4.5"), "Tokens")
        assert second == first
        assert [d.amount for d in plan.draws] == [D(2)] and plan.debt_added == D("2.5")
        ledger.flush()
    with read(engine) as conn:
        assert unbalanced(conn, cid) == []
        row = repository.transaction_by_key(conn, cid, first)
        assert (row.type, row.amount, row.description) == ("usage", -int(D("7.5") * 10**9), "2 usage fees")
        entries = conn.execute(
            select(ledger_entries.c.account, ledger_entries.c.grant_id, ledger_entries.c.amount)
            .where(ledger_entries.c.transaction_id == row.id).order_by(ledger_entries.c.id)
        ).all()
        grant = conn.execute(select(credit_grants.c.id).where(credit_grants.c.account_id == aid)).scalar_one()
        assert [(e.account, e.grant_id, from_scaled(e.amount)) for e in entries] == [
            (wallet_account(aid), grant, D(-5)),
            (f"system:{REVENUE}:{asset}", None, D("7.5")),
            (wallet_account(aid), None, D("-2.5")),
        ]
        assert repository.balances(conn, aid, now)["available"] == D("-2.5")


def test_a_single_fee_gives_its_usage_transaction_its_own_name(engine: Engine) -> None:
    now, _, cid, aid = _funded(engine)
    with write(engine) as conn:
        ledger = Ledger(conn, cid, now)
        txn, _ = ledger.spend(aid, D(2), "Video minutes")
        ledger.flush()
    with read(engine) as conn:
        assert repository.transaction_by_key(conn, cid, txn).description == "Video minutes"
