"""Group billing (usage.pipeline.bill): many requests in one transaction, each judged on its own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import delete, func, select

from drawdown.core.errors import Invalid
from drawdown.core.scopes import DEFAULT_LIVE
from drawdown.customers import service as customers
from drawdown.customers.models import SubscriptionStatusChange
from drawdown.db.engine import read, write
from drawdown.db.tables import events, fees, ledger_entries, transactions, wallet_accounts
from drawdown.usage import pipeline
from drawdown.usage.cache import HotCache
from drawdown.usage.models import Outcome, UsageBatch, UsageEvent
from drawdown.wallets.repository import balances
from tests.worlds import untraced, volume_world


def _world(engine, now: datetime) -> tuple[str, list[str]]:
    code, ids = volume_world(engine, now, Decimal("0.5"), 3, Decimal(10), funded=2)
    with write(engine) as conn:
        # The third customer's account is gone: billing must open it (in memory, written with the group).
        conn.execute(delete(wallet_accounts).where(wallet_accounts.c.customer_id == ids[2]))
    return code, ids


def ev(eid: str, n: object, now: datetime) -> UsageEvent:
    return UsageEvent(eid, "u", now, data={"n": n})


def send(conn, customer_id: str, batch: list[UsageEvent], now: datetime, cache: HotCache) -> Outcome:
    answer = pipeline.bill(conn, [UsageBatch(DEFAULT_LIVE, customer_id, None, batch)], now, None, cache)[0]
    assert not isinstance(answer, Exception), answer
    return answer[1]


def test_a_group_judges_each_request_alone_and_writes_only_what_was_accepted(engine) -> None:
    now = datetime.now(UTC)
    code, (a, b, c) = _world(engine, now)
    limit = Decimal(0)
    requests = [
        UsageBatch(DEFAULT_LIVE, a, None, [ev("a1", 4, now)]),  # 2 billed
        # cannot be rated: taken back whole
        UsageBatch(DEFAULT_LIVE, a, None, [ev("a2", 2, now), ev("a3", "lots", now)]),
        # replay of a1; a2 is new again: 3 billed
        UsageBatch(DEFAULT_LIVE, a, None, [ev("a1", 4, now), ev("a2", 6, now)]),
        UsageBatch(DEFAULT_LIVE, None, f"{code}-1", [ev("b1", 40, now), ev("b2", 2, now)]),  # b1 is more than b holds
        UsageBatch(DEFAULT_LIVE, "cust_nobody", None, [ev("x", 1, now)]),
        UsageBatch(DEFAULT_LIVE, None, "nobody", [ev("y", 1, now)]),
        UsageBatch(DEFAULT_LIVE, c, None, [ev("c1", 3, now)]),  # into a new account, unlimited overdraft
    ]
    with write(engine) as conn:
        cache = HotCache()
        results = pipeline.bill(conn, requests[:6], now, limit, cache) + pipeline.bill(
            conn, requests[6:], now, None, cache
        )
    assert results[0] == (a, Outcome(accepted=["a1"]))
    assert isinstance(results[1], Invalid) and "events[1]" in str(results[1].errors)
    assert results[2] == (a, Outcome(accepted=["a2"], replayed=["a1"]))
    assert results[3][1].accepted == ["b2"] and list(results[3][1].rejected) == [0]
    assert "insufficient funds" in results[3][1].rejected[0]
    assert isinstance(results[4], Invalid) and "customer_id" in results[4].errors
    assert isinstance(results[5], Invalid) and "customer_external_id" in results[5].errors
    assert results[6] == (c, Outcome(accepted=["c1"]))
    with read(engine) as conn:
        stored = {
            (r.customer_id, r.id): r.revenue
            for r in conn.execute(select(events).where(events.c.customer_id.in_([a, b, c])))
        }
        assert set(stored) == {(a, "a1"), (a, "a2"), (b, "b2"), (c, "c1")}
        accounts = {
            r.customer_id: r.id for r in conn.execute(select(wallet_accounts).where(wallet_accounts.c.asset == code))
        }
        assert balances(conn, accounts[a], now)["available"] == Decimal(5)  # 10 - 2 - 3
        assert balances(conn, accounts[b], now)["available"] == Decimal(9)
        assert balances(conn, accounts[c], now)["available"] == Decimal("-1.5")  # debt in the account opened for it
        unbalanced = conn.execute(
            select(ledger_entries.c.transaction_id)
            .join(transactions, transactions.c.id == ledger_entries.c.transaction_id)
            .where(transactions.c.customer_id.in_([a, b, c]))
            .group_by(ledger_entries.c.transaction_id)
            .having(func.sum(ledger_entries.c.amount) != 0)
        ).all()
        assert unbalanced == []
        # a's fees of the group (a1 and a2; a2 of the refused batch taken back) are booked in one usage
        # transaction of its account, which each of them names; nothing else took value from a.
        usage = conn.execute(
            select(transactions).where(transactions.c.customer_id == a, transactions.c.type == "usage")
        ).all()
        assert [(u.amount, u.description) for u in usage] == [(-5 * 10**9, "2 usage fees")]
        charged = conn.execute(select(fees.c.charge_id).where(fees.c.customer_id == a)).scalars().all()
        assert charged == [usage[0].transaction_id] * 2
        for customer in (a, b, c):
            assert untraced(conn, customer) == []


def test_a_subscription_change_reaches_the_cached_prices(engine) -> None:
    """Prices are cached per customer revision: a cancelled subscription stops billing at once."""
    now = datetime.now(UTC)
    _, (a, _, _) = _world(engine, now)
    cache = HotCache()
    with write(engine) as conn:
        assert send(conn, a, [ev("p1", 2, now)], now, cache).accepted == ["p1"]
        sub = customers.get_customer(conn, DEFAULT_LIVE, a, now).subscriptions[0].id
        customers.update_subscription(conn, DEFAULT_LIVE, SubscriptionStatusChange(a, sub, "inactive"), now, None)
    later = now + timedelta(seconds=1)
    with write(engine) as conn:
        assert send(conn, a, [ev("p2", 2, later)], later, cache).accepted == ["p2"]
    with read(engine) as conn:
        fees_of = dict(
            conn.execute(
                select(events.c.id, func.count(fees.c.id))
                .outerjoin(fees, fees.c.event_seq == events.c.seq)
                .where(events.c.customer_id == a)
                .group_by(events.c.id)
            ).all()
        )
    assert fees_of == {"p1": 1, "p2": 0}  # p2 matched no price: recorded without a fee


def test_a_large_group_writes_the_same_money_as_a_small_one(engine) -> None:
    """A group of COPY_GROUP events or more writes outside the pipeline, its plain INSERTs by COPY on
    PostgreSQL: every event, fee and ledger entry must land, with the very amounts, as in small groups."""
    from drawdown.usage.commit import COPY_GROUP

    now = datetime.now(UTC)
    code, ids = volume_world(engine, now, Decimal("0.25"), 3, Decimal(1000))
    n = COPY_GROUP + 7
    sent = {cid: [ev(f"{cid}-{i}", 1 + i % 3, now) for i in range(k, n, 3)] for k, cid in enumerate(ids)}
    with write(engine) as conn:
        answers = pipeline.bill(conn, [UsageBatch(DEFAULT_LIVE, cid, None, evs) for cid, evs in sent.items()],
                                now, Decimal(0), HotCache())
    assert sum(len(a[1].accepted) for a in answers) == n
    with read(engine) as conn:
        assert conn.execute(select(func.count()).select_from(events).where(events.c.customer_id.in_(ids))).scalar() == n
        stored_fees = conn.execute(select(func.count()).select_from(fees).where(fees.c.customer_id.in_(ids))).scalar()
        assert stored_fees == n
        usage = select(transactions.c.id).where(transactions.c.customer_id.in_(ids))
        assert conn.execute(select(func.sum(ledger_entries.c.amount))
                            .where(ledger_entries.c.transaction_id.in_(usage))).scalar() == 0  # balanced
        for cid in ids:
            account = conn.execute(select(wallet_accounts.c.id).where(wallet_accounts.c.customer_id == cid,
                                                                      wallet_accounts.c.asset == code)).scalar_one()
            spent = sum(Decimal(e.data["n"]) * Decimal("0.25") for e in sent[cid])
            assert balances(conn, account, now)["available"] == Decimal(1000) - spent
