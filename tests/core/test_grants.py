"""Grant consumption order, overdraft limits and ledger balance; property-tested with Hypothesis."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drawdown.core.grants import (
    Grant,
    InsufficientFunds,
    apply,
    available,
    consumption_order,
    in_consumption_order,
    plan_debit,
    plan_settlement,
)
from drawdown.core.ledger import Posting, check_balanced, merge

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def g(
    id_: str, remaining: str, priority: int = 100, expires: int | None = None, effective: int = 0, created: int = 0
) -> Grant:
    return Grant(
        id_,
        D(remaining),
        T0 + timedelta(days=effective),
        None if expires is None else T0 + timedelta(days=expires),
        T0 + timedelta(seconds=created),
        priority,
    )


def test_order_priority_then_expiry_then_age() -> None:
    grants = [
        g("late", "1", expires=30),
        g("never", "1"),
        g("soon", "1", expires=10),
        g("prio", "1", priority=1),
        g("old", "1", created=-5),
    ]
    assert [x.id for x in consumption_order(grants, T0)] == ["prio", "soon", "late", "old", "never"]


def test_expired_and_future_grants_are_never_drawn() -> None:
    grants = [g("expired", "5", expires=-1), g("future", "5", effective=3), g("live", "2")]
    plan = plan_debit(grants, D(0), None, D("3"), T0)
    assert [(d.grant_id, d.amount) for d in plan.draws] == [("live", D("2"))]
    assert plan.debt_added == D("1")
    with pytest.raises(InsufficientFunds):
        plan_debit(grants, D(0), D(0), D("3"), T0)


def test_overdraft_limit_is_inclusive() -> None:
    plan = plan_debit([g("a", "1")], D(0), D("2"), D("3"), T0)
    assert plan.debt_added == D("2")
    with pytest.raises(InsufficientFunds):
        plan_debit([g("a", "1")], D("0.5"), D("2"), D("3"), T0)


def test_settlement_pays_debt_from_live_grants() -> None:
    plan = plan_settlement([g("a", "5")], D("2"), T0)
    assert plan.debt_added == D("-2") and plan.drawn == D("2")
    assert plan_settlement([g("a", "1")], D("2"), T0).debt_added == D("-1")


amounts = st.decimals(min_value=D("0.000000001"), max_value=D("1000"), places=9)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(amounts, st.integers(0, 3), st.one_of(st.none(), st.integers(-3, 30)), st.integers(-3, 3)), max_size=8
    ),
    st.lists(amounts, max_size=12),
    st.one_of(st.none(), amounts),
)
def test_debits_conserve_value_and_respect_the_limit(grant_specs, debits, limit) -> None:
    grants = [
        Grant(f"g{i}", amt, T0 + timedelta(days=eff), None if exp is None else T0 + timedelta(days=exp), T0, prio)
        for i, (amt, prio, exp, eff) in enumerate(grant_specs)
    ]
    debt = D(0)
    total_book = sum((x.remaining for x in grants), D(0))
    for amount in debits:
        before = available(grants, debt, T0)
        try:
            plan = plan_debit(grants, debt, limit, amount, T0)
        except InsufficientFunds:
            assert limit is not None and before - amount < -limit
            continue
        for d in plan.draws:
            grant = next(x for x in grants if x.id == d.grant_id)
            assert grant.effective_at <= T0 and (grant.expires_at is None or grant.expires_at > T0)
            assert 0 < d.amount <= grant.remaining
        grants = apply(grants, plan.draws)
        debt += plan.debt_added
        # Double entry: what left the grants plus new debt is exactly the debit.
        assert plan.drawn + plan.debt_added == amount
        assert available(grants, debt, T0) == before - amount
        assert all(x.remaining >= 0 for x in grants)
        assert limit is None or debt <= limit
        total_book -= amount
        assert sum((x.remaining for x in grants), D(0)) - debt == total_book


def test_merged_postings_sum_per_account_and_grant_in_first_seen_order() -> None:
    postings = [
        Posting("wallet:a", D(-2), "g1"), Posting("system:revenue:X", D(2)),
        Posting("wallet:a", D(-1), "g2"), Posting("wallet:a", D(-3), "g1"),
        Posting("system:revenue:X", D(4)), Posting("wallet:a", D(1)), Posting("wallet:a", D(-1)),
    ]
    merged = merge(postings)
    assert merged == [Posting("wallet:a", D(-5), "g1"), Posting("system:revenue:X", D(6)),
                      Posting("wallet:a", D(-1), "g2")]  # the overdraft's +1 and -1 cancel out
    check_balanced(merged)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(amounts, st.integers(0, 3), st.one_of(st.none(), st.integers(-3, 30)), st.integers(-3, 3),
                  st.integers(-2, 2)),
        max_size=8,
    ),
    st.lists(amounts, max_size=12),
    st.decimals(min_value=D(0), max_value=D(50), places=9),
)
def test_a_list_kept_in_consumption_order_draws_exactly_as_a_sorted_one(grant_specs, debits, debt) -> None:
    """The Ledger keeps an account's grants ``in_consumption_order`` and skips the sort per debit
    (``ordered=True``): the draws are the same as sorting each time, through debits and settlements."""
    grants = [
        Grant(f"g{i}", amt, T0 + timedelta(days=eff), None if exp is None else T0 + timedelta(days=exp),
              T0 + timedelta(seconds=created), prio)
        for i, (amt, prio, exp, eff, created) in enumerate(grant_specs)
    ]
    kept = in_consumption_order(grants)
    assert plan_settlement(kept, debt, T0, ordered=True) == plan_settlement(grants, debt, T0)
    for amount in debits:
        plan = plan_debit(grants, D(0), None, amount, T0)
        assert plan_debit(kept, D(0), None, amount, T0, ordered=True) == plan
        grants, kept = apply(grants, plan.draws), apply(kept, plan.draws)
        assert [x.id for x in kept] == [x.id for x in in_consumption_order(grants)]  # drawing keeps the order
